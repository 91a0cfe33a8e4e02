"""The Redis store: a schedule in a handful of keys under one hash tag (see :mod:`.keys`).

:class:`RedisStore` is what beat and the CLI call; the rules every store shares come from
:mod:`beatcore.storekit`, and the Redis parts live beside it: the handle every call goes through
(:mod:`.handle`), the compare-and-set writes (:mod:`.writes`), claim and ack under the lease
(:mod:`.scheduling`), the static sync (:mod:`.static_sync`), the fenced lock (:mod:`.lock`) and
the startup checks (:mod:`.checks`). Management writes (save, trigger, delete) read first and
then compare-and-set, so a concurrent change is never overwritten: the writer reads again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from beatcore import serializer, storekit
from beatcore.batch import SaveManyReport
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord, EntryNotFound
from beatcore.store import (
    Ack,
    BeatInfo,
    Change,
    ClaimResult,
    InFlight,
    Lease,
    RunOutcome,
    RunRecord,
    Store,
    StoreStatus,
    SyncReport,
)
from beatcore.timeutil import Clock, utc_now
from beatcore_redis import changes as changelog
from beatcore_redis import listing, reports, revive, saving, scheduling, writes
from beatcore_redis.calls import RedisCalls
from beatcore_redis.checks import run_checks
from beatcore_redis.connection import RetryingCaller
from beatcore_redis.handle import RedisHandle, build_handle, open_handle
from beatcore_redis.keys import KeyLayout
from beatcore_redis.lock import RedisLock
from beatcore_redis.static_sync import StaticSync

# Kept importable from here, where they used to live.
MAX_WRITE_ATTEMPTS = writes.MAX_WRITE_ATTEMPTS
CLAIMED_RAW_LIMIT = scheduling.CLAIMED_RAW_LIMIT
WRITE_CHUNK = writes.WRITE_CHUNK
#: Up to this many entries, :meth:`RedisStore.status` decodes every record to count the
#: unreadable ones; past it, it counts those beat noted (constant time in the schedule size).
STATUS_DECODE_LIMIT = 10_000


class RedisStore(Store):
    """A :class:`~beatcore.store.Store` on one Redis database, Sentinel master or Cluster.

    :param client: a redis-py client (``Redis``, a Sentinel master, ``RedisCluster``) or a
        compatible one (fakeredis in tests).
    :param url: the URL it was opened with, password masked.
    :param key_prefix: ``beatcore_key_prefix``; every key lives under it, in one hash tag.
    :param clock: the clock for due times and claim times (the lock expires on Redis time).
    :param default_timezone: zone of calendar schedules whose entry sets no ``tz``.
    :param retry: the retry policy (default: 6 attempts, backoff 0.1 s doubling up to 2 s).
    :param startup_checks: run :meth:`check` at the first static sync (scheduler startup).
    :param wait_replicas, wait_timeout: see :class:`~beatcore_redis.calls.RedisCalls`
        (``open_store`` makes it 1 for Sentinel URLs, 0 otherwise).
    """

    def __init__(
        self,
        client: Any,
        *,
        url: str,
        key_prefix: str = "beatcore:",
        clock: Clock = utc_now,
        default_timezone: str | tzinfo | None = None,
        retry: RetryingCaller | None = None,
        startup_checks: bool = True,
        wait_replicas: int = 0,
        wait_timeout: float = 0.5,
    ) -> None:
        self._init(
            build_handle(
                client,
                url=url,
                key_prefix=key_prefix,
                clock=clock,
                default_timezone=default_timezone,
                retry=retry,
                wait_replicas=wait_replicas,
                wait_timeout=wait_timeout,
            ),
            startup_checks,
        )

    @classmethod
    def from_handle(cls, handle: RedisHandle, *, startup_checks: bool = True) -> RedisStore:
        """Return the store working through ``handle`` (see :func:`open_store`)."""
        store = cls.__new__(cls)
        store._init(handle, startup_checks)
        return store

    def _init(self, handle: RedisHandle, startup_checks: bool) -> None:
        self.handle = handle
        self._lock = RedisLock(handle)
        self._startup_checks = startup_checks
        self._checked = False
        self._claimed = scheduling.ClaimedStates()
        self._seen = saving.SeenRecords()
        self._walk = listing.NameWalk()

    # -- what the lock, the checks and tests reach ------------------------------------------

    @property
    def client(self) -> Any:
        """The redis-py client."""
        return self.handle.client

    @property
    def calls(self) -> RedisCalls:
        """The client's round trips under the retry policy."""
        return self.handle.calls

    @property
    def keys(self) -> KeyLayout:
        """The key names of this schedule."""
        return self.handle.keys

    @property
    def url(self) -> str:
        """The URL with its password masked."""
        return self.handle.url

    @property
    def lock(self) -> RedisLock:
        """The fenced leadership lock."""
        return self._lock

    def now(self) -> datetime:
        """The store clock's current instant."""
        return self.handle.now()

    @staticmethod
    def micros(when: datetime) -> int:
        """Return ``when`` as integer epoch microseconds (exact as a Redis score)."""
        return storekit.to_micros(when)

    @staticmethod
    def from_micros(value: bytes | str | float) -> datetime:
        """Return the instant of an epoch-microseconds score or field."""
        return storekit.from_micros(value)

    # -- definitions -----------------------------------------------------------------------

    def _record(self, name: str) -> tuple[storekit.Record, bytes | str, bytes | str | None]:
        """Return the readable record of ``name`` and its raw definition and state.

        :raises EntryNotFound: no definition. :raises CorruptRecord: unreadable.
        """
        defs, states = writes.read(self.handle, [name])
        if defs[0] is None:
            raise EntryNotFound(name)
        return storekit.read_record(name, defs[0], states[0]), defs[0], states[0]

    def save(self, entry: Entry) -> EntryState:
        """Insert or update ``entry`` (see :meth:`Store.save`): one round trip for a new entry
        or one this store read or wrote before, two for any other (see :mod:`.saving`)."""
        return saving.save(self.handle, self._seen, entry)

    def save_many(self, entries: Iterable[Entry]) -> SaveManyReport:
        """Save ``entries`` (see :meth:`Store.save_many`) in two round trips, however many."""
        return saving.save_many(self.handle, entries)

    def get(self, name: str) -> Entry:
        """Return the definition called ``name`` (its records are kept for the next save)."""
        raw, state_raw = self.calls.pipeline(
            "get", lambda p: (p.hget(self.keys.defs, name), p.hget(self.keys.states, name))
        )
        if raw is None:
            raise EntryNotFound(name)
        entry = serializer.loads_entry(raw, name)
        self._seen.remember(name, raw, state_raw)
        return entry

    def delete(self, name: str) -> None:
        """Remove the entry, its state, due slot and claim."""
        exists = self.calls.call("delete", lambda: self.client.hexists(self.keys.defs, name))
        if not exists:
            raise EntryNotFound(name)
        self._seen.forget(name)
        writes.write(self.handle, "delete", [writes.Delete(name)])

    def entries(self) -> list[Entry]:
        """Return the readable entries sorted by name (reads every definition)."""
        raw = self.calls.call("list entries", lambda: self.client.hgetall(self.keys.defs))
        return storekit.list_entries((storekit.text(key), value) for key, value in raw.items())

    def corrupt_records(self) -> list[CorruptRecord]:
        """Return an error for each unreadable definition or state (nothing is deleted)."""
        defs, states, noted = self.calls.pipeline(
            "list records",
            lambda p: (
                p.hgetall(self.keys.defs),
                p.hgetall(self.keys.states),
                p.hgetall(self.keys.corrupt),
            ),
        )
        found = storekit.list_corrupt(
            (storekit.text(key), value, states.get(key)) for key, value in defs.items()
        )
        # since when beat noted each one unreadable (the claim took it out)
        noted_since = {
            error.name: error.since
            for error in (revive.read_noted(key, value) for key, value in noted.items())
        }
        return [
            error
            if noted_since.get(error.name) is None
            else CorruptRecord(error.name, error.cause, noted_since[error.name])
            for error in found
        ]

    def state(self, name: str) -> EntryState:
        """Return the state of ``name``."""
        state_raw, exists = self.calls.pipeline(
            "get state",
            lambda p: (p.hget(self.keys.states, name), p.hexists(self.keys.defs, name)),
        )
        if not exists:
            raise EntryNotFound(name)
        if state_raw is None:
            raise CorruptRecord(name, "state: missing (the definition has no state record)")
        return serializer.loads_state(state_raw, name)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable ``name`` (re-enabling reschedules from now)."""
        entry = self.get(name)
        if entry.enabled != enabled:
            self.save(entry.evolve(enabled=enabled))

    def trigger(self, name: str, at: datetime | None = None) -> None:
        """Make ``name`` due once more at ``at`` (default now)."""
        for _ in range(writes.MAX_WRITE_ATTEMPTS):
            (entry, state), def_raw, state_raw = self._record(name)
            state = storekit.triggered(state, at, self.now())
            put = writes.put(entry, state, def_raw, state_raw)
            if not writes.write(self.handle, "trigger", [put]):
                return
        raise writes.gave_up(self.handle, "trigger", [name])

    def sync_static(self, entries: Iterable[Entry], keep: Iterable[str] = ()) -> SyncReport:
        """Make the static entries equal to ``entries`` in a constant number of round trips.

        An unchanged static set costs one round trip (its digest matches); otherwise one more
        pipeline reads the records, and one pipeline of compare-and-set script calls writes
        every change (after a concurrent change it reads again); see :mod:`.static_sync`.
        The first call also runs the startup checks (:meth:`check`).
        """
        if self._startup_checks and not self._checked:
            self.check()
        return StaticSync(self.handle, entries, keep).run(writes.MAX_WRITE_ATTEMPTS)

    # -- scheduling --------------------------------------------------------------------------

    def claim_due(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Renew ``lease`` and claim up to ``limit`` due entries: one EVALSHA (one more round
        trip only to set an unreadable record aside in the corrupt hash, out of flight)."""
        return scheduling.claim(self.handle, self._claimed, lease, now, limit, reclaim_after)

    def claim_due_ahead(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> Callable[[], ClaimResult]:
        """The claim's EVALSHA sent now, its reply read in the call (Store.claim_due_ahead)."""
        return scheduling.claim_ahead(self.handle, self._claimed, lease, now, limit, reclaim_after)

    def ack(self, lease: Lease, acks: Sequence[Ack]) -> None:
        """Write the acked states and the runs' history: one EVALSHA, plus one read and one
        write when some entries changed while in flight (:func:`storekit.merge_ack`)."""
        scheduling.ack(self.handle, self._claimed, lease, acks, self.history_size)

    def ack_stream(self, lease: Lease, acks: Iterable[Ack], count: int) -> None:
        """The acks in up to four EVALSHAs, sent as they come (:func:`scheduling.ack_stream`)."""
        scheduling.ack_stream(self.handle, self._claimed, lease, acks, count, self.history_size)

    def history(self, name: str, limit: int | None = None) -> list[RunRecord]:
        """Return the run history of ``name``, newest first (see :meth:`Store.history`):
        one round trip. The ack writes it, in its own script call."""
        return reports.read_history(self.handle, name, limit)

    def last_runs(self, names: Iterable[str]) -> dict[str, RunRecord]:
        """Return each entry's newest run record: one round trip per 1,000 names."""
        return reports.last_runs(self.handle, list(names))

    #: Worker reports are kept (a log per entry, applied where read: :mod:`.reports`).
    records_outcomes = True

    def record_outcome(self, outcome: RunOutcome) -> None:
        """Record what a worker reports of a run (see :meth:`Store.record_outcome`): one
        script call."""
        reports.record_outcome(self.handle, outcome, self.history_size)

    def in_flight(self) -> list[InFlight]:
        """Return the claims not acked yet, oldest first."""
        return scheduling.in_flight(self.handle)

    def entries_page(
        self, after: str | None = None, limit: int = 100, *, descending: bool = False
    ) -> list[tuple[Entry, EntryState] | CorruptRecord]:
        """Return a page of records in name order, in two round trips, one when it continues
        a walk (see :mod:`.listing`)."""
        return listing.entries_page(
            self.handle, after, limit, descending=descending, walk=self._walk
        )

    def unreadable_records(self) -> list[CorruptRecord]:
        """Return the records a claim took out as unreadable, as noted (the corrupt hash)."""
        return revive.unreadable_records(self.handle)

    def retry_unreadable(self, now: datetime) -> list[str]:
        """Put back the entries taken out as unreadable whose records read now."""
        return revive.retry_unreadable(self.handle)

    def record_beat(self, info: BeatInfo) -> None:
        """Keep what the scheduler said at start (the ``meta`` hash)."""
        revive.record_beat(self.handle, info)

    def beat_info(self) -> BeatInfo | None:
        """Return what the last scheduler to start recorded."""
        return revive.beat_info(self.handle)

    def record_changes(self, changes: Sequence[Change]) -> None:
        """Append ``changes`` to the change log, one round trip (see :mod:`.changes`)."""
        changelog.record_changes(self.handle, changes, self.change_log_size)

    def changes(self, name: str | None = None, limit: int | None = None) -> list[Change]:
        """Return the change log, newest first (see :meth:`Store.changes`)."""
        return changelog.read_changes(self.handle, name, limit)

    def status(self) -> StoreStatus:
        """Return a snapshot: leader, last tick, counts, in-flight claims, next due instant.

        Its cost does not grow with the schedule past :data:`STATUS_DECODE_LIMIT` entries:
        then ``corrupt_count`` is the number of records beat noted unreadable (a claim took
        them out of the due index), read with one ``HLEN``; at or below it every record is
        decoded, so one that no claim has met yet is counted too.
        """
        keys = self.keys
        last_tick, count, first, noted = self.calls.pipeline(
            "status",
            lambda p: (
                p.hget(keys.meta, "last_tick"),
                p.hlen(keys.defs),
                p.zrange(keys.due, 0, 0, withscores=True),
                p.hlen(keys.corrupt),
            ),
        )
        corrupt = int(noted)
        if int(count) <= STATUS_DECODE_LIMIT:
            corrupt = len(self.corrupt_records())
        return StoreStatus(
            url=self.url,
            leader=self._lock.current(),
            last_tick_at=storekit.from_micros(last_tick) if last_tick else None,
            entry_count=int(count),
            corrupt_count=corrupt,
            in_flight=tuple(self.in_flight()),
            next_due_at=storekit.from_micros(first[0][1]) if first else None,
        )

    def check(self) -> list[str]:
        """Run the startup checks once and log what they find (see :mod:`.checks`).

        Called by the first :meth:`sync_static` (scheduler startup); management code may call
        it too. Returns the warnings.
        """
        self._checked = True
        return run_checks(self.handle)

    def close(self) -> None:
        """Close the client's connections."""
        self.handle.calls.scripts.release()
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def open_store(url: str, options: Mapping[str, Any]) -> RedisStore:
    """Open the Redis store for ``url`` with ``options`` (``beatcore_store_options`` plus
    ``key_prefix``, ``default_timezone`` and ``clock``); called by :mod:`.plugin`.

    ``options["client"]`` may hold a ready redis-py client (the URL then only names it).

    :raises ConfigurationError: the URL or an option is malformed.
    """
    handle = open_handle(url, options)
    return RedisStore.from_handle(handle, startup_checks=bool(options.get("startup_checks", True)))
