"""The embedded default store: one SQLite file, ``sqlite:///path``, standard library only.

Several processes on one host (beat processes, management clients) may open the same file.
The file is in WAL mode, so readers see the last committed state and never half of a write;
every write is one ``BEGIN IMMEDIATE`` transaction, so writers queue on the file's write lock
(up to ``busy_timeout`` seconds) instead of failing halfway. The lock row holds a fencing
counter: each acquisition increments it, and every fenced call checks its token against it in
the same transaction as its writes. Lock expiry follows the store's clock.

Records are kept as the serializer's JSON text, exactly as the memory store keeps them, so an
unreadable record is reported and skipped, never deleted. The file (URL, schema, migrations,
transactions) and the lock row are in :mod:`beatcore.stores.sqlite_schema`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from beatcore import serializer, timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import ConfigurationError, CorruptRecord, EntryNotFound
from beatcore.hookspecs import hookimpl
from beatcore.store import (
    Ack,
    Claim,
    ClaimResult,
    InFlight,
    Lease,
    Store,
    StoreStatus,
    SyncReport,
)
from beatcore.stores.sqlite_schema import Database, SqliteLock, database_path, instant, micros
from beatcore.timeutil import Clock, utc_now
from beatcore.values import is_number

#: Seconds a write waits for another process's write transaction before failing.
DEFAULT_BUSY_TIMEOUT = 10.0

_KNOWN_OPTIONS = frozenset({"clock", "default_timezone", "key_prefix", "busy_timeout"})

_UPSERT = """
    INSERT INTO entries (name, entry_json, state_json, next_run_at, due_at, error)
    VALUES (:name, :entry_json, :state_json, :next_run_at, :due_at, NULL)
    ON CONFLICT (name) DO UPDATE SET
        entry_json = excluded.entry_json,
        state_json = excluded.state_json,
        next_run_at = excluded.next_run_at,
        due_at = CASE WHEN entries.claimed_at IS NULL THEN excluded.due_at END,
        error = NULL
"""
# An in-flight entry stays out of the due index until its ack puts it back.


def _names(names: Iterable[str]) -> str:
    """A JSON array of names, bound as one parameter and expanded with ``json_each``."""
    return json.dumps(list(names))


class SqliteStore(Store):
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

    def _row(self, conn: sqlite3.Connection, name: str) -> tuple[str, str]:
        row = conn.execute(
            "SELECT entry_json, state_json FROM entries WHERE name = ?", (name,)
        ).fetchone()
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

    def _saved(
        self, row: tuple[str, str] | None, entry: Entry, now: datetime
    ) -> tuple[EntryState, bool]:
        """Return the state after saving ``entry`` over ``row`` and whether anything changed."""
        old: Entry | None = None
        state: EntryState | None = None
        if row is not None:
            try:
                old = serializer.loads_entry(row[0], entry.name)
                state = serializer.loads_state(row[1], entry.name)
            except CorruptRecord:
                old = state = None
            else:
                if serializer.entry_to_dict(old) == serializer.entry_to_dict(entry):
                    return state, False
        return timing.state_after_save(old, state, entry, now, self._tz), True

    def _save_in(self, conn: sqlite3.Connection, entry: Entry) -> EntryState:
        row = conn.execute(
            "SELECT entry_json, state_json FROM entries WHERE name = ?", (entry.name,)
        ).fetchone()
        state, changed = self._saved(row, entry, self.clock())
        if changed:
            conn.execute(_UPSERT, self._values(entry, state))
        return state

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

    def entries(self) -> list[Entry]:
        """Return the readable entries sorted by name."""
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT name, entry_json FROM entries ORDER BY name").fetchall()
        found = []
        for name, entry_json in rows:
            try:
                found.append(serializer.loads_entry(entry_json, name))
            except CorruptRecord:
                continue
        return found

    def corrupt_records(self) -> list[CorruptRecord]:
        """Return an error for each unreadable definition or state."""
        with self._db.transaction() as conn:
            return self._corrupt_in(conn)

    def _corrupt_in(self, conn: sqlite3.Connection) -> list[CorruptRecord]:
        errors = []
        for name, entry_json, state_json in conn.execute(
            "SELECT name, entry_json, state_json FROM entries ORDER BY name"
        ):
            try:
                serializer.loads_entry(entry_json, name)
                serializer.loads_state(state_json, name)
            except CorruptRecord as exc:
                errors.append(exc)
        return errors

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
            entry_json, state_json = self._row(conn, name)
            entry = serializer.loads_entry(entry_json, name)
            state = serializer.loads_state(state_json, name)
            state = state.evolve(triggered_at=at or self.clock())
            conn.execute(_UPSERT, self._values(entry, state))

    def sync_static(self, entries: Iterable[Entry], keep: Iterable[str] = ()) -> SyncReport:
        """Replace the static entries with ``entries`` in one write transaction."""
        now = self.clock()
        wanted = {entry.name: entry for entry in entries}
        kept = set(keep)
        added: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        removed: list[str] = []
        with self._db.transaction(write=True) as conn:
            rows = {
                name: (entry_json, state_json)
                for name, entry_json, state_json in conn.execute(
                    "SELECT name, entry_json, state_json FROM entries"
                )
            }
            writes = []
            for name, entry in wanted.items():
                state, changed = self._saved(rows.get(name), entry, now)
                if not changed:
                    unchanged.append(name)
                    continue
                (updated if name in rows else added).append(name)
                writes.append(self._values(entry, state))
            for name in sorted(set(rows) - set(wanted) - kept):
                try:
                    is_static = serializer.loads_entry(rows[name][0], name).static
                except CorruptRecord:
                    continue
                if is_static:
                    removed.append(name)
            conn.executemany(_UPSERT, writes)
            conn.execute(
                "DELETE FROM entries WHERE name IN (SELECT value FROM json_each(?))",
                (_names(removed),),
            )
        return SyncReport(tuple(added), tuple(updated), tuple(removed), tuple(unchanged))

    # -- scheduling ----------------------------------------------------------------------

    def claim_due(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Renew the lease and claim up to ``limit`` due entries (see :meth:`Store.claim_due`).

        One write transaction; the candidates come from the due and in-flight indexes, so a
        tick with nothing due reads no entry rows.
        """
        now_us = micros(now)
        stale_us = micros(now - timedelta(seconds=reclaim_after))
        with self._db.transaction(write=True) as conn:
            self._db.check_lease(conn, lease, tick_at=now)
            rows = conn.execute(
                "SELECT name, entry_json, state_json, 1 FROM entries"
                " WHERE claimed_at <= ? ORDER BY claimed_at, name LIMIT ?",
                (stale_us, limit),
            ).fetchall()
            if len(rows) < limit:
                rows += conn.execute(
                    "SELECT name, entry_json, state_json, 0 FROM entries"
                    " WHERE due_at <= ? ORDER BY due_at, name LIMIT ?",
                    (now_us, limit - len(rows)),
                ).fetchall()
            claims: list[Claim] = []
            corrupt: list[CorruptRecord] = []
            for name, entry_json, state_json, recovered in rows:
                try:
                    entry = serializer.loads_entry(entry_json, name)
                    state = serializer.loads_state(state_json, name)
                except CorruptRecord as exc:
                    corrupt.append(exc)
                    continue
                claims.append(Claim(entry, state, recovered=bool(recovered)))
            if claims:
                conn.execute(
                    "UPDATE entries SET due_at = NULL, claim_token = ?, claimed_at = ?,"
                    " claimed_next_run_at = next_run_at"
                    " WHERE name IN (SELECT value FROM json_each(?))",
                    (lease.token, now_us, _names(c.entry.name for c in claims)),
                )
            # Unreadable: out of the due index, error noted, record kept as it is.
            conn.executemany(
                "UPDATE entries SET due_at = NULL, claim_token = NULL, claimed_at = NULL,"
                " claimed_next_run_at = NULL, error = ? WHERE name = ?",
                [(exc.cause, exc.name) for exc in corrupt],
            )
            next_due = conn.execute(
                "SELECT min(due_at) FROM entries WHERE due_at IS NOT NULL"
            ).fetchone()[0]
        return ClaimResult(tuple(claims), tuple(corrupt), instant(next_due))

    def ack(self, lease: Lease, acks: Sequence[Ack]) -> None:
        """Record the outcome of claimed entries in one transaction (see :meth:`Store.ack`)."""
        by_name = {ack.name: ack for ack in acks}
        with self._db.transaction(write=True) as conn:
            self._db.check_lease(conn, lease)
            rows = conn.execute(
                "SELECT name, entry_json, state_json FROM entries"
                " WHERE name IN (SELECT value FROM json_each(?))",
                (_names(by_name),),
            ).fetchall()
            writes: list[tuple[str, int | None, int | None, str]] = []
            unreadable: list[tuple[str, str]] = []
            for name, entry_json, state_json in rows:
                ack = by_name[name]
                try:
                    entry = serializer.loads_entry(entry_json, name)
                    current = serializer.loads_state(state_json, name)
                except CorruptRecord as exc:
                    unreadable.append((exc.cause, name))
                    continue
                merged = timing.state_after_ack(current, ack.claimed, ack.state)
                due = timing.due_after_ack(entry, merged, ack.state, ack.due_at)
                writes.append(
                    (
                        serializer.dumps_state(merged),
                        micros(merged.next_run_at),
                        micros(due),
                        name,
                    )
                )
            conn.executemany(
                "UPDATE entries SET state_json = ?, next_run_at = ?, due_at = ?,"
                " claim_token = NULL, claimed_at = NULL, claimed_next_run_at = NULL, error = NULL"
                " WHERE name = ?",
                writes,
            )
            conn.executemany(
                "UPDATE entries SET claim_token = NULL, claimed_at = NULL,"
                " claimed_next_run_at = NULL, error = ? WHERE name = ?",
                unreadable,
            )

    def in_flight(self) -> list[InFlight]:
        """Return unacked claims, oldest first."""
        with self._db.transaction() as conn:
            return self._in_flight_in(conn)

    def _in_flight_in(self, conn: sqlite3.Connection) -> list[InFlight]:
        found = []
        for name, token, claimed_at, next_run_at in conn.execute(
            "SELECT name, claim_token, claimed_at, claimed_next_run_at FROM entries"
            " WHERE claimed_at IS NOT NULL ORDER BY claimed_at, name"
        ):
            claimed = instant(claimed_at)
            assert claimed is not None  # selected by claimed_at IS NOT NULL
            found.append(InFlight(name, token, claimed, instant(next_run_at)))
        return found

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


def _busy_timeout(options: Mapping[str, Any]) -> float:
    value = options.get("busy_timeout", DEFAULT_BUSY_TIMEOUT)
    if not is_number(value) or value < 0:
        raise ConfigurationError(
            f"SQLite store option busy_timeout must be a number of seconds >= 0, got {value!r}"
        )
    return float(value)


@hookimpl
def beatcore_store_from_url(url: str, options: Mapping[str, Any]) -> Store | None:
    """Open ``sqlite:///relative/path`` or ``sqlite:////absolute/path``."""
    path = database_path(url)
    if path is None:
        return None
    unknown = sorted(set(options) - _KNOWN_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unknown SQLite store option(s) {', '.join(map(repr, unknown))} for {url!r} "
            f"(beatcore_store_options); the SQLite store takes: busy_timeout"
        )
    return SqliteStore(
        path,
        clock=options.get("clock") or utc_now,
        default_timezone=options.get("default_timezone"),
        busy_timeout=_busy_timeout(options),
    )


@hookimpl
def beatcore_store_missing(url: str, options: Mapping[str, Any]) -> str | None:
    """Say that the file of a ``sqlite:///`` URL does not exist (opening would create it)."""
    path = database_path(url)
    if path is None or path.exists():
        return None
    return f"file {path} does not exist"
