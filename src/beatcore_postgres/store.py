"""``PostgresStore``: one schedule in a PostgreSQL schema, shared by any number of processes.

Only the atomicity and the I/O are here; every rule about the records (the save decision, the
static-sync plan, the ack merge, decoding) is the store kit's (:mod:`beatcore.storekit`).
Each call is one round trip in the common case (see :mod:`.statements`):

==================  =====================================================================
claim_due           1 (2 when it meets unreadable records, which it then sets aside)
ack                 1 (2-3 for entries changed while in flight: read, merge, write), the
                    run history appended and trimmed in the statement writing the state
history             1
last_runs           1 whatever the number of names
save, trigger, ...  2 (read, compare-and-set write)
save_many           2 whatever the number of entries (read all, write the changes)
sync_static         1 when no stored entry changes or goes, else 2 (see :mod:`.static_sync`)
status              1 (three statements in one pipeline)
==================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, TypeVar

from beatcore import serializer, storekit
from beatcore.batch import SaveManyReport, unique_batch
from beatcore.entry import Entry, EntryState
from beatcore.errors import (
    CorruptRecord,
    EntryNotFound,
    InvalidEntry,
    StoreError,
)
from beatcore.store import (
    Ack,
    BeatInfo,
    ClaimResult,
    InFlight,
    Lease,
    LockInfo,
    RunOutcome,
    RunRecord,
    Store,
    StoreStatus,
    SyncReport,
)
from beatcore.storekit import Record
from beatcore.timeutil import Clock, utc_now
from beatcore_postgres import unreadable
from beatcore_postgres.changes import ChangeLog, ChangeLogMethods
from beatcore_postgres.connection import Connection, Database
from beatcore_postgres.last_runs import LastRuns
from beatcore_postgres.listing import Pages
from beatcore_postgres.lock import PostgresLock, utc
from beatcore_postgres.notify import ChangeListener
from beatcore_postgres.scheduling import Scheduling, in_flight, read_history, record_outcome
from beatcore_postgres.schema import ensure_schema
from beatcore_postgres.statements import Statements
from beatcore_postgres.static_sync import StaticSync
from beatcore_postgres.urls import PostgresSpec
from beatcore_postgres.writes import Conflict, save_batch, write

T = TypeVar("T")

#: Compare-and-set attempts of one call before it gives up (each lost one means another
#: process wrote the same entry in between, so this is never reached in practice).
MAX_CAS_ATTEMPTS = 20


class PostgresStore(ChangeLogMethods, Store):
    """A :class:`~beatcore.store.Store` in one PostgreSQL schema.

    :param spec: the parsed URL (schema included).
    :param db: the pool and retry policy every call runs under.
    :param clock: the current aware UTC instant for first occurrences and triggers (lease
        expiry follows the server's clock, not this one).
    :param default_timezone: zone of calendar schedules of entries without their own ``tz``.
    """

    def __init__(
        self,
        spec: PostgresSpec,
        db: Database,
        *,
        clock: Clock = utc_now,
        default_timezone: str | tzinfo | None = None,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self._tz = default_timezone
        self._db = db
        self._sql = Statements.for_schema(spec.schema, spec.channel)
        self._log = ChangeLog(spec.schema)
        self._pages = Pages(spec.schema)
        self._static = StaticSync(spec.schema, spec.channel)
        self._last_runs = LastRuns(spec.schema)
        self._listener = ChangeListener(db.connect, spec.channel, spec.masked_url)
        self._lock = PostgresLock(db, spec.schema)
        self._scheduling = Scheduling(self._sql, spec.masked_url)
        db.before_first_call(lambda conn: ensure_schema(conn, spec.schema, spec.masked_url))

    @property
    def url(self) -> str:
        """The URL with its password masked."""
        return self.spec.masked_url

    @property
    def lock(self) -> PostgresLock:
        """The schedule's lock."""
        return self._lock

    def _run(self, what: str, operation: Callable[[Connection], T]) -> T:
        return self._db.run(what, operation)

    def _cas(self, what: str, attempt: Callable[[Connection], T]) -> T:
        """Run ``attempt`` until its compare-and-set write wins (see :data:`MAX_CAS_ATTEMPTS`)."""

        def loop(conn: Connection) -> T:
            for _ in range(MAX_CAS_ATTEMPTS):
                try:
                    return attempt(conn)
                except Conflict:
                    continue
            raise StoreError(
                f"PostgreSQL {what} at {self.url}: the entry kept changing under "
                f"{MAX_CAS_ATTEMPTS} attempts; try again"
            )

        return self._run(what, loop)

    def _write(
        self,
        conn: Connection,
        writes: Sequence[tuple[Record, int | None]],
        deletes: Mapping[str, int] | None = None,
    ) -> tuple[set[str], set[str]]:
        """Write and delete in one statement (see :func:`.writes.write`)."""
        return write(conn, self._sql, writes, deletes)

    def _saved(self, conn: Connection, record: Record, rev: int | None) -> None:
        """Write one record compare-and-set, or raise :class:`.writes.Conflict`."""
        written, _ = self._write(conn, [(record, rev)])
        if not written:
            raise Conflict

    def _read(self, conn: Connection, name: str) -> tuple[Record, int]:
        row = conn.execute(self._sql.row, {"name": name}).fetchone()
        if row is None:
            raise EntryNotFound(name)
        return storekit.read_record(name, row[0], row[1]), row[2]

    # -- definitions ---------------------------------------------------------------------

    def save(self, entry: Entry) -> EntryState:
        """Insert or update ``entry`` (see :meth:`Store.save`): read, then compare-and-set."""
        if "\x00" in entry.name:
            raise InvalidEntry(
                f"entry name {entry.name!r} holds a NUL character, which PostgreSQL text "
                f"cannot store"
            )

        def attempt(conn: Connection) -> EntryState:
            row = conn.execute(self._sql.row, {"name": entry.name}).fetchone()
            stored = None if row is None else storekit.decode_record(entry.name, row[0], row[1])
            state, changed = storekit.decide_save(entry, stored, self.clock(), self._tz)
            rev = None if row is None else row[2]
            if changed:
                self._saved(conn, Record(entry, state), rev)
            return state

        return self._cas(f"save of entry {entry.name!r}", attempt)

    def save_many(self, entries: Iterable[Entry]) -> SaveManyReport:
        """Save each of ``entries`` as :meth:`save` does (see :meth:`Store.save_many`): one
        statement reads every named row, one writes the changes compare-and-set; the entries
        another process wrote in between are read, decided and written again."""
        batch, refused = unique_batch(entries)
        for entry in batch:
            if "\x00" in entry.name:
                refused[entry.name] = (
                    f"entry name {entry.name!r} holds a NUL character, which PostgreSQL text "
                    f"cannot store"
                )
        pending = [entry for entry in batch if entry.name not in refused]
        states: dict[str, EntryState] = {}

        def attempt(conn: Connection) -> SaveManyReport:
            save_batch(conn, self._sql, pending, states, refused, self.clock(), self._tz)
            return SaveManyReport(states, refused)

        return self._cas("save of many entries", attempt)

    def get(self, name: str) -> Entry:
        """Return the definition called ``name``."""
        row = self._lookup(self._sql.entry, name)
        return serializer.loads_entry(row[0], name)

    def state(self, name: str) -> EntryState:
        """Return the state of ``name``."""
        row = self._lookup(self._sql.state, name)
        return serializer.loads_state(row[0], name)

    def _lookup(self, query: str, name: str) -> tuple[Any, ...]:
        if "\x00" in name:
            raise EntryNotFound(name)  # PostgreSQL text holds no NUL: no such entry exists
        row = self._run(
            f"read of entry {name!r}", lambda c: c.execute(query, {"name": name}).fetchone()
        )
        if row is None:
            raise EntryNotFound(name)
        return row

    def delete(self, name: str) -> None:
        """Remove the entry with its state, due slot and claim."""
        if "\x00" in name:
            raise EntryNotFound(name)
        row = self._run(
            f"delete of entry {name!r}",
            lambda c: c.execute(self._sql.delete, {"name": name}).fetchone(),
        )
        if row is None:
            raise EntryNotFound(name)

    def entries(self) -> list[Entry]:
        """Return the readable entries sorted by name."""
        rows = self._run("list", lambda c: c.execute(self._sql.all_entries).fetchall())
        return storekit.list_entries((name, entry_json) for name, entry_json in rows)

    def entries_page(
        self, after: str | None = None, limit: int = 100, *, descending: bool = False
    ) -> list[tuple[Entry, EntryState] | CorruptRecord]:
        """Return a page of records in name order, in one query (see :mod:`.listing`)."""
        return self._run("list page", lambda c: self._pages.read(c, after, limit, descending))

    def corrupt_records(self) -> list[CorruptRecord]:
        """Return an error for each unreadable definition or state (see :mod:`.unreadable`)."""
        return self._run("corrupt-record scan", lambda c: unreadable.corrupt_records(c, self._sql))

    def unreadable_records(self) -> list[CorruptRecord]:
        """Return the records a tick took out as unreadable, as noted (name, why, since)."""
        return self._run("unreadable list", lambda c: unreadable.unreadable_records(c, self._sql))

    def retry_unreadable(self, now: datetime) -> list[str]:
        """Put back the records taken out as unreadable that read now (one write)."""
        return self._run("unreadable retry", lambda c: unreadable.revive(c, self._sql, now))

    def record_beat(self, info: BeatInfo) -> None:
        """Keep what the scheduler said at start (one row)."""
        self._run(
            "beat record",
            lambda c: c.execute(self._sql.record_beat, {"info": info.to_json()}),
        )

    def beat_info(self) -> BeatInfo | None:
        """Return what the last scheduler to start recorded."""
        row = self._run("beat info", lambda c: c.execute(self._sql.beat_info).fetchone())
        return None if row is None else BeatInfo.from_json(row[0])

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable ``name`` (re-enabling reschedules from now)."""
        if "\x00" in name:
            raise EntryNotFound(name)

        def attempt(conn: Connection) -> None:
            (entry, state), rev = self._read(conn, name)
            if entry.enabled == enabled:
                return
            new = entry.evolve(enabled=enabled)
            decided, _ = storekit.decide_save(new, Record(entry, state), self.clock(), self._tz)
            self._saved(conn, Record(new, decided), rev)

        self._cas(f"enable/disable of entry {name!r}", attempt)

    def trigger(self, name: str, at: datetime | None = None) -> None:
        """Make ``name`` due once more at ``at`` (default now)."""
        if "\x00" in name:
            raise EntryNotFound(name)

        def attempt(conn: Connection) -> None:
            (entry, state), rev = self._read(conn, name)
            self._saved(conn, Record(entry, storekit.triggered(state, at, self.clock())), rev)

        self._cas(f"trigger of entry {name!r}", attempt)

    def sync_static(self, entries: Iterable[Entry], keep: Iterable[str] = ()) -> SyncReport:
        """Make the static entries equal to ``entries`` (see :meth:`Store.sync_static`).

        One statement, and one more when a stored entry changes or goes (see
        :mod:`.static_sync`); rows another process wrote in between are planned and written
        again (the report then covers every pass).
        """
        wanted = list(entries)
        kept = tuple(keep)
        names = [entry.name for entry in wanted]
        for name in names:
            if "\x00" in name:
                raise InvalidEntry(f"static entry name {name!r} holds a NUL character")
        passes: list[SyncReport] = []

        def attempt(conn: Connection) -> SyncReport:
            return self._static.sync_pass(
                conn, self._sql, wanted, kept, passes, self.clock(), self._tz
            )

        return self._cas("static sync", attempt)

    # -- scheduling ----------------------------------------------------------------------

    def claim_due(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Renew the lease and claim up to ``limit`` due entries in one statement."""
        return self._run(
            "claim", lambda conn: self._scheduling.claim(conn, lease, now, limit, reclaim_after)
        )

    def ack(self, lease: Lease, acks: Sequence[Ack]) -> None:
        """Record the outcome of claimed entries (see :meth:`Store.ack`): one statement for
        every ack whose row is unchanged since the claim (see :mod:`.scheduling`)."""
        revs = self._scheduling.take_revs(acks)
        facts = self._scheduling.take_facts(acks)
        size, now = self.history_size, self.clock()
        self._run(
            "ack", lambda conn: self._scheduling.ack(conn, lease, acks, revs, size, facts, now)
        )

    def history(self, name: str, limit: int | None = None) -> list[RunRecord]:
        """Return the run history of ``name``, newest first (one statement; the ack writes
        it in the statement that writes the entry's state)."""
        if "\x00" in name:
            raise EntryNotFound(name)
        return self._run(
            f"history of entry {name!r}", lambda c: read_history(c, self._sql, name, limit)
        )

    def last_runs(self, names: Iterable[str]) -> dict[str, RunRecord]:
        """Return each entry's newest run record, its worker reports applied: one query
        whatever the number of names (see :mod:`.last_runs`)."""
        wanted = list(names)
        return self._run("last runs", lambda c: self._last_runs.read(c, wanted))

    #: Worker reports are kept (a log per entry, applied where read: see :mod:`.scheduling`).
    records_outcomes = True

    def record_outcome(self, outcome: RunOutcome) -> None:
        """Record what a worker reports of a run (see :meth:`Store.record_outcome`): one
        statement."""
        if "\x00" in outcome.name:
            return  # PostgreSQL text holds no NUL: no such entry exists
        size, now = self.history_size, self.clock()
        self._run(
            f"report of entry {outcome.name!r}",
            lambda c: record_outcome(c, self._sql, outcome, size, now),
        )

    def in_flight(self) -> list[InFlight]:
        """Return unacked claims, oldest first."""
        rows = self._run("in-flight list", lambda c: c.execute(self._sql.in_flight).fetchall())
        return [in_flight(row) for row in rows]

    def status(self) -> StoreStatus:
        """Return a snapshot of the schedule (three statements in one pipeline)."""

        def status(conn: Connection) -> StoreStatus:
            with conn.pipeline():
                head_cur = conn.execute(self._sql.status)
                flight_cur = conn.execute(self._sql.in_flight)
                records_cur = conn.execute(self._sql.all_records)
            head = head_cur.fetchone()
            assert head is not None  # the leadership row exists from the first migration
            holder, token, acquired_at, expires_at, valid, last_tick_at, count, next_due = head
            leader = None
            if token is not None and valid:
                leader = LockInfo(holder, token, utc(acquired_at), utc(expires_at))
            records = records_cur.fetchall()
            return StoreStatus(
                url=self.url,
                leader=leader,
                last_tick_at=utc(last_tick_at),
                entry_count=count,
                corrupt_count=len(storekit.list_corrupt((n, e, s) for n, e, s in records)),
                in_flight=tuple(in_flight(row) for row in flight_cur.fetchall()),
                next_due_at=utc(next_due),
            )

        return self._run("status", status)

    #: Management writes send ``NOTIFY``; the leader's wait between ticks wakes on it.
    pushes_changes = True

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change announced by another process (see
        :mod:`.notify`); True when one was."""
        return self._listener.wait(timeout)

    def close(self) -> None:
        """Close the pool and the listening connection; the store cannot be used afterwards."""
        self._listener.close()
        self._db.close()
