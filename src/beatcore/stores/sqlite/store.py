"""The embedded default store: one SQLite file, ``sqlite:///path``, standard library only.

Several processes on one host (beat processes, management clients) may open the same file.
The file is in WAL mode, so readers see the last committed state and never half of a write;
every write is one ``BEGIN IMMEDIATE`` transaction, so writers queue on the file's write lock
(up to ``busy_timeout`` seconds) instead of failing halfway. The lock row holds a fencing
counter: each acquisition increments it, and every fenced call checks its token against it in
the same transaction as its writes. Lock expiry follows the store's clock.

Records are kept as the serializer's JSON text, exactly as the memory store keeps them, and
read back as bytes (``CAST(... AS BLOB)``), so text that is not UTF-8 is an unreadable record
like any other: reported and skipped, never deleted. Every rule is the store kit's
(:mod:`beatcore.storekit`); this module holds the SQL. Names are bound one per parameter, never
passed through SQLite's JSON functions (which cut a name at a NUL).
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from beatcore import serializer, storekit, timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord, EntryNotFound
from beatcore.store import (
    Ack,
    BeatInfo,
    ClaimResult,
    InFlight,
    Lease,
    RunRecord,
    Store,
    StoreStatus,
    SyncReport,
)
from beatcore.storekit import from_micros as instant
from beatcore.storekit import to_micros as micros
from beatcore.stores.sqlite import outcomes as reports
from beatcore.stores.sqlite.changes import ChangeLogMethods
from beatcore.stores.sqlite.database import Database, chunks, stored_name
from beatcore.stores.sqlite.history import delete_runs, read_runs
from beatcore.stores.sqlite.listing import PagedListing
from beatcore.stores.sqlite.lock import SqliteLock
from beatcore.timeutil import Clock, utc_now

#: Seconds a write waits for another process's write transaction before failing.
DEFAULT_BUSY_TIMEOUT = 10.0

_UPSERT = """
    INSERT INTO entries (name, entry_json, state_json, next_run_at, due_at, error)
    VALUES (:name, :entry_json, :state_json, :next_run_at, :due_at, NULL)
    ON CONFLICT (name) DO UPDATE SET
        entry_json = excluded.entry_json,
        state_json = excluded.state_json,
        next_run_at = excluded.next_run_at,
        due_at = CASE WHEN entries.claimed_at IS NULL THEN excluded.due_at END,
        error = NULL,
        error_at = NULL
"""
# An in-flight entry stays out of the due index until its ack puts it back.

#: The record columns as bytes: the serializer decodes them, so bad UTF-8 is a CorruptRecord.
_RECORD = "CAST(entry_json AS BLOB), CAST(state_json AS BLOB)"


class SqliteStore(PagedListing, ChangeLogMethods, reports.OutcomeMethods, Store):
    """A :class:`~beatcore.store.Store` in one SQLite file, shared by processes on one host.

    :param path: the database file (created with its schema if missing).
    :param clock: the current aware UTC instant; lock expiry follows it.
    :param default_timezone: zone of calendar schedules of entries without their own ``tz``.
    :param busy_timeout: seconds a write waits for another process's write transaction.
    :raises SchemaVersionError: the file was written by a newer beatcore.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = utc_now,
        default_timezone: str | tzinfo | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(os.path.abspath(path))
        self.clock = clock
        self._tz = default_timezone
        self._db = Database(self.path, clock=clock, busy_timeout=busy_timeout)
        self._lock = SqliteLock(self._db)

    @property
    def url(self) -> str:
        """``sqlite:///`` followed by the file's absolute path."""
        return f"sqlite:///{self.path}"

    @property
    def lock(self) -> SqliteLock:
        """The schedule's lock."""
        return self._lock

    # -- helpers (called inside a transaction) ------------------------------------------

    def _row(self, conn: sqlite3.Connection, name: str) -> tuple[bytes, bytes]:
        row = conn.execute(f"SELECT {_RECORD} FROM entries WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise EntryNotFound(name)
        return row[0], row[1]

    def _values(self, entry: Entry, state: EntryState) -> dict[str, Any]:
        """The column values of ``entry`` with ``state`` for :data:`_UPSERT`."""
        return {
            "name": entry.name,
            "entry_json": serializer.dumps_entry(entry),
            "state_json": serializer.dumps_state(state),
            "next_run_at": micros(state.next_run_at),
            "due_at": micros(timing.state_due_at(entry, state)),
        }

    def _save_in(self, conn: sqlite3.Connection, entry: Entry) -> EntryState:
        row = conn.execute(
            f"SELECT {_RECORD} FROM entries WHERE name = ?", (entry.name,)
        ).fetchone()
        stored = None if row is None else storekit.decode_record(entry.name, *row)
        state, changed = storekit.decide_save(entry, stored, self.clock(), self._tz)
        if changed:
            conn.execute(_UPSERT, self._values(entry, state))
        return state

    def _corrupt_in(self, conn: sqlite3.Connection) -> list[CorruptRecord]:
        errors = storekit.list_corrupt(conn.execute(f"SELECT name, {_RECORD} FROM entries"))
        if errors:
            since = dict(
                conn.execute("SELECT name, error_at FROM entries WHERE error_at IS NOT NULL")
            )
            for error in errors:
                error.since = instant(since.get(error.name))
        return errors

    # -- definitions ---------------------------------------------------------------------

    def save(self, entry: Entry) -> EntryState:
        """Insert or update ``entry`` (see :meth:`Store.save`)."""
        with self._db.transaction(write=True) as conn:
            return self._save_in(conn, entry)

    def get(self, name: str) -> Entry:
        """Return the definition called ``name``."""
        with self._db.transaction() as conn:
            entry_json, _ = self._row(conn, name)
        return serializer.loads_entry(entry_json, name)

    def delete(self, name: str) -> None:
        """Remove the entry with its state, due slot and claim."""
        with self._db.transaction(write=True) as conn:
            if conn.execute("DELETE FROM entries WHERE name = ?", (name,)).rowcount == 0:
                raise EntryNotFound(name)
            delete_runs(conn, [name])

    def entries(self) -> list[Entry]:
        """Return the readable entries sorted by name."""
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT name, CAST(entry_json AS BLOB) FROM entries").fetchall()
        return storekit.list_entries(rows)

    def corrupt_records(self) -> list[CorruptRecord]:
        """Return an error for each unreadable definition or state."""
        with self._db.transaction() as conn:
            return self._corrupt_in(conn)

    def state(self, name: str) -> EntryState:
        """Return the state of ``name``."""
        with self._db.transaction() as conn:
            _, state_json = self._row(conn, name)
        return serializer.loads_state(state_json, name)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable ``name`` (re-enabling reschedules from now)."""
        with self._db.transaction(write=True) as conn:
            entry = serializer.loads_entry(self._row(conn, name)[0], name)
            if entry.enabled != enabled:
                self._save_in(conn, entry.evolve(enabled=enabled))

    def trigger(self, name: str, at: datetime | None = None) -> None:
        """Make ``name`` due once more at ``at`` (default now)."""
        with self._db.transaction(write=True) as conn:
            entry, state = storekit.read_record(name, *self._row(conn, name))
            conn.execute(_UPSERT, self._values(entry, storekit.triggered(state, at, self.clock())))

    def sync_static(self, entries: Iterable[Entry], keep: Iterable[str] = ()) -> SyncReport:
        """Replace the static entries with ``entries`` in one write transaction."""
        with self._db.transaction(write=True) as conn:
            stored = {
                name: (entry_json, state_json)
                for name, entry_json, state_json in conn.execute(
                    f"SELECT name, {_RECORD} FROM entries"
                )
            }
            plan = storekit.plan_static_sync(entries, stored, keep, self.clock(), self._tz)
            conn.executemany(_UPSERT, [self._values(*record) for record in plan.writes])
            conn.executemany("DELETE FROM entries WHERE name = ?", [(n,) for n in plan.removed])
            delete_runs(conn, plan.removed)
        return plan.report

    # -- scheduling ----------------------------------------------------------------------

    def claim_due(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Renew the lease and claim up to ``limit`` due entries (see :meth:`Store.claim_due`).

        One write transaction; the candidates come from the due and in-flight indexes, so a
        tick with nothing due reads no entry rows. An unreadable record among them is taken
        out of the due index with its error noted (kept as it is); the others are claimed.
        """
        now_us = micros(now)
        stale_us = micros(now - timedelta(seconds=reclaim_after))
        with self._db.transaction(write=True) as conn:
            self._db.check_lease(conn, lease, tick_at=now)
            rows = conn.execute(
                f"SELECT name, {_RECORD}, 1, running FROM entries"
                " WHERE claimed_at <= ? ORDER BY claimed_at, name LIMIT ?",
                (stale_us, limit),
            ).fetchall()
            if len(rows) < limit:
                rows += conn.execute(
                    f"SELECT name, {_RECORD}, 0, running FROM entries"
                    " WHERE due_at <= ? ORDER BY due_at, name LIMIT ?",
                    (now_us, limit - len(rows)),
                ).fetchall()
            claims, corrupt = reports.decode_claims(rows)
            for marks, part in chunks([claim.entry.name for claim in claims]):
                conn.execute(
                    "UPDATE entries SET due_at = NULL, claim_token = ?, claimed_at = ?,"
                    f" claimed_next_run_at = next_run_at WHERE name IN ({marks})",
                    (lease.token, now_us, *part),
                )
            self._quarantine(conn, corrupt, now, claimed=True)
            next_due = conn.execute(
                "SELECT min(due_at) FROM entries WHERE due_at IS NOT NULL"
            ).fetchone()[0]
        return ClaimResult(tuple(claims), tuple(corrupt), instant(next_due))

    def _quarantine(
        self,
        conn: sqlite3.Connection,
        errors: Sequence[CorruptRecord],
        now: datetime,
        *,
        claimed: bool,
    ) -> None:
        """Take unreadable records out of flight (and of the due index: ``claimed``), noting
        why and since when; the records stay as they are."""
        due = "due_at = NULL, " if claimed else ""
        conn.executemany(
            f"UPDATE entries SET {due}claim_token = NULL, claimed_at = NULL,"
            " claimed_next_run_at = NULL, error = ?, error_at = coalesce(error_at, ?)"
            " WHERE name = CAST(? AS TEXT)",
            [(storekit.text(exc.cause.encode("utf-8", "backslashreplace")), micros(now),
              stored_name(exc.name)) for exc in errors],
        )  # fmt: skip

    def unreadable_records(self) -> list[CorruptRecord]:
        """Return the records a claim or ack took out as unreadable, as noted."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT name, error, error_at FROM entries WHERE error IS NOT NULL ORDER BY name"
            ).fetchall()
        return [CorruptRecord(name, error, instant(error_at)) for name, error, error_at in rows]

    def retry_unreadable(self, now: datetime) -> list[str]:
        """Put back the records a claim took out as unreadable that read now (one write)."""
        with self._db.transaction(write=True) as conn:
            rows = conn.execute(
                f"SELECT name, {_RECORD} FROM entries"
                " WHERE error IS NOT NULL AND claimed_at IS NULL ORDER BY name"
            ).fetchall()
            revived = [
                (micros(timing.state_due_at(*record)), name)
                for name, record in storekit.revivable(rows)
            ]
            conn.executemany(
                "UPDATE entries SET due_at = ?, error = NULL, error_at = NULL WHERE name = ?",
                revived,
            )
        return [name for _, name in revived]

    def record_beat(self, info: BeatInfo) -> None:
        """Keep what the scheduler said at start (one row)."""
        with self._db.transaction(write=True) as conn:
            conn.execute("INSERT OR REPLACE INTO beat (id, info) VALUES (1, ?)", (info.to_json(),))

    def beat_info(self) -> BeatInfo | None:
        """Return what the last scheduler to start recorded."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT CAST(info AS BLOB) FROM beat WHERE id = 1").fetchone()
        return None if row is None else BeatInfo.from_json(row[0])

    def ack(self, lease: Lease, acks: Sequence[Ack]) -> None:
        """Record the outcome of claimed entries in one transaction (see :meth:`Store.ack`)."""
        by_name = {ack.name: ack for ack in acks}
        with self._db.transaction(write=True) as conn:
            self._db.check_lease(conn, lease)
            rows: list[tuple[str, bytes, bytes]] = []
            for marks, part in chunks(list(by_name)):
                rows += conn.execute(
                    f"SELECT name, {_RECORD} FROM entries WHERE name IN ({marks})", part
                ).fetchall()
            writes: list[tuple[str, int | None, int | None, str]] = []
            unreadable: list[CorruptRecord] = []
            for name, entry_json, state_json in rows:
                merged = storekit.acked(by_name[name], entry_json, state_json)
                if isinstance(merged, CorruptRecord):
                    unreadable.append(merged)
                    continue
                _, state, due = merged
                writes.append(
                    (serializer.dumps_state(state), micros(state.next_run_at), micros(due), name)
                )
            conn.executemany(
                "UPDATE entries SET state_json = ?, next_run_at = ?, due_at = ?,"
                " claim_token = NULL, claimed_at = NULL, claimed_next_run_at = NULL, error = NULL"
                " WHERE name = ?",
                writes,
            )
            written = [by_name[write[-1]] for write in writes]
            reports.write_acked(conn, written, self.history_size, self.clock())
            self._quarantine(conn, unreadable, self.clock(), claimed=False)

    def history(self, name: str, limit: int | None = None) -> list[RunRecord]:
        """Return the run history of ``name``, newest first (see :meth:`Store.history`)."""
        with self._db.transaction() as conn:
            self._row(conn, name)
            return read_runs(conn, name, limit)

    def in_flight(self) -> list[InFlight]:
        """Return unacked claims, oldest first."""
        with self._db.transaction() as conn:
            return self._in_flight_in(conn)

    def _in_flight_in(self, conn: sqlite3.Connection) -> list[InFlight]:
        return [
            InFlight(name, token, instant(int(claimed_at)), instant(next_run_at))
            for name, token, claimed_at, next_run_at in conn.execute(
                "SELECT name, claim_token, claimed_at, claimed_next_run_at FROM entries"
                " WHERE claimed_at IS NOT NULL ORDER BY claimed_at, name"
            )
        ]

    def status(self) -> StoreStatus:
        """Return a snapshot of the schedule (one read transaction)."""
        with self._db.transaction() as conn:
            (last_tick_at,) = conn.execute(
                "SELECT last_tick_at FROM leadership WHERE id = 1"
            ).fetchone()
            count, next_due = conn.execute("SELECT count(*), min(due_at) FROM entries").fetchone()
            return StoreStatus(
                url=self.url,
                leader=self._db.lock_info(conn),
                last_tick_at=instant(last_tick_at),
                entry_count=count,
                corrupt_count=len(self._corrupt_in(conn)),
                in_flight=tuple(self._in_flight_in(conn)),
                next_due_at=instant(next_due),
            )

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        self._db.close()

    # -- deprecated test helper -----------------------------------------------------------

    def write_raw(self, name: str, entry_json: str, state_json: str, due_at: datetime) -> None:
        """Deprecated: use :func:`beatcore.testing.plant_sqlite_record`."""
        warnings.warn(
            "SqliteStore.write_raw is deprecated: tests use "
            "beatcore.testing.plant_sqlite_record instead",
            DeprecationWarning,
            2,
        )
        with self._db.transaction(write=True) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO entries (name, entry_json, state_json, due_at)"
                " VALUES (?, ?, ?, ?)",
                (name, entry_json, state_json, micros(due_at)),
            )
