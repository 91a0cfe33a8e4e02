"""The reference store: everything in process memory, ``memory://NAME``.

Stores opened with the same URL in one process share their data (as kombu's memory transport
does), so a scheduler and a management client in one process see the same schedule. Records are
kept as serialized JSON, exactly as a persistent store keeps them, so unreadable records behave
the same here as anywhere.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlsplit

import attrs

from beatcore import serializer, storekit, timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord, EntryNotFound
from beatcore.hookspecs import hookimpl
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
from beatcore.storekit import Record
from beatcore.stores.memory_lock import LockRecord, MemoryLock
from beatcore.timeutil import Clock, utc_now


@attrs.define
class _Record:
    entry_json: str
    state_json: str

    @property
    def raw(self) -> tuple[str, str]:
        return self.entry_json, self.state_json


@attrs.define
class _Schedule:
    """All data of one ``memory://NAME`` schedule, guarded by ``mutex``."""

    mutex: threading.RLock = attrs.field(factory=threading.RLock)
    records: dict[str, _Record] = attrs.field(factory=dict)
    due: dict[str, datetime] = attrs.field(factory=dict)
    in_flight: dict[str, InFlight] = attrs.field(factory=dict)
    corrupt: dict[str, str] = attrs.field(factory=dict)
    corrupt_since: dict[str, datetime] = attrs.field(factory=dict)
    history: dict[str, list[str]] = attrs.field(factory=dict)
    beat_info: str | None = None
    lock: LockRecord | None = None
    fence: int = 0
    last_tick_at: datetime | None = None


_SCHEDULES: dict[str, _Schedule] = {}
_SCHEDULES_MUTEX = threading.Lock()


def _shared(name: str) -> _Schedule:
    with _SCHEDULES_MUTEX:
        return _SCHEDULES.setdefault(name, _Schedule())


class MemoryStore(Store):
    """A :class:`~beatcore.store.Store` kept in this process's memory.

    Its atomicity is one mutex per schedule; every rule is the store kit's
    (:mod:`beatcore.storekit`).
    """

    def __init__(
        self,
        name: str = "default",
        *,
        clock: Clock = utc_now,
        default_timezone: str | tzinfo | None = None,
    ) -> None:
        self.name = name
        self._clock = clock
        self._tz = default_timezone
        self._data = _shared(name)
        self._lock = MemoryLock(self._data, clock)

    @property
    def url(self) -> str:
        """``memory://NAME``."""
        return f"memory://{self.name}"

    @property
    def lock(self) -> MemoryLock:
        """The schedule's lock."""
        return self._lock

    # -- helpers (caller holds the mutex) ------------------------------------------------

    def _read(self, name: str) -> Record:
        """Return the readable record ``name`` (raises EntryNotFound, CorruptRecord)."""
        try:
            record = self._data.records[name]
        except KeyError:
            raise EntryNotFound(name) from None
        return storekit.read_record(name, record.entry_json, record.state_json)

    def _write(self, entry: Entry, state: EntryState, due: datetime | None = None) -> None:
        """Store ``entry`` and ``state``; ``due`` defaults to what the state says."""
        self._data.records[entry.name] = _Record(
            serializer.dumps_entry(entry), serializer.dumps_state(state)
        )
        self._data.corrupt.pop(entry.name, None)
        self._data.corrupt_since.pop(entry.name, None)
        if due is None:
            due = timing.state_due_at(entry, state)
        if due is None or entry.name in self._data.in_flight:
            self._data.due.pop(entry.name, None)
        else:
            self._data.due[entry.name] = due

    def _save_locked(self, entry: Entry) -> EntryState:
        record = self._data.records.get(entry.name)
        stored = None if record is None else storekit.decode_record(entry.name, *record.raw)
        state, changed = storekit.decide_save(entry, stored, self._clock(), self._tz)
        if changed:
            self._write(entry, state)
        return state

    def _raw(self) -> dict[str, tuple[str, str]]:
        return {name: record.raw for name, record in self._data.records.items()}

    # -- definitions ---------------------------------------------------------------------

    def save(self, entry: Entry) -> EntryState:
        """Insert or update ``entry`` (see :meth:`Store.save`)."""
        with self._data.mutex:
            return self._save_locked(entry)

    def get(self, name: str) -> Entry:
        """Return the definition called ``name``."""
        with self._data.mutex:
            if name not in self._data.records:
                raise EntryNotFound(name)
            return serializer.loads_entry(self._data.records[name].entry_json, name)

    def delete(self, name: str) -> None:
        """Remove the entry with its state, due slot and claim."""
        with self._data.mutex:
            if self._data.records.pop(name, None) is None:
                raise EntryNotFound(name)
            self._data.due.pop(name, None)
            self._data.in_flight.pop(name, None)
            self._data.corrupt.pop(name, None)
            self._data.corrupt_since.pop(name, None)
            self._data.history.pop(name, None)

    def entries(self) -> list[Entry]:
        """Return the readable entries sorted by name."""
        with self._data.mutex:
            return storekit.list_entries(
                (name, record.entry_json) for name, record in self._data.records.items()
            )

    def corrupt_records(self) -> list[CorruptRecord]:
        """Return an error for each unreadable definition or state."""
        with self._data.mutex:
            errors = storekit.list_corrupt((name, *raw) for name, raw in self._raw().items())
            for error in errors:
                error.since = self._data.corrupt_since.get(error.name)
            return errors

    def state(self, name: str) -> EntryState:
        """Return the state of ``name``."""
        with self._data.mutex:
            if name not in self._data.records:
                raise EntryNotFound(name)
            return serializer.loads_state(self._data.records[name].state_json, name)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable ``name`` (re-enabling reschedules from now)."""
        with self._data.mutex:
            entry = self.get(name)
            if entry.enabled != enabled:
                self._save_locked(entry.evolve(enabled=enabled))

    def trigger(self, name: str, at: datetime | None = None) -> None:
        """Make ``name`` due once more at ``at`` (default now)."""
        with self._data.mutex:
            entry, state = self._read(name)
            self._write(entry, storekit.triggered(state, at, self._clock()))

    def sync_static(self, entries: Iterable[Entry], keep: Iterable[str] = ()) -> SyncReport:
        """Replace the static entries with ``entries`` under one lock (atomic)."""
        with self._data.mutex:
            plan = storekit.plan_static_sync(entries, self._raw(), keep, self._clock(), self._tz)
            for entry, state in plan.writes:
                self._write(entry, state)
            for name in plan.removed:
                self.delete(name)
        return plan.report

    # -- scheduling ----------------------------------------------------------------------

    def claim_due(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Renew the lease and claim up to ``limit`` due entries (see :meth:`Store.claim_due`)."""
        data = self._data
        with data.mutex:
            self._lock._check(lease)
            data.last_tick_at = now
            stale = now - timedelta(seconds=reclaim_after)
            recovered = sorted(
                (f for f in data.in_flight.values() if f.claimed_at <= stale),
                key=lambda f: (f.claimed_at, f.name),
            )
            due = sorted((at, name) for name, at in data.due.items() if at <= now)
            candidates = [(f.name, True) for f in recovered] + [(n, False) for _, n in due]
            claims, corrupt = storekit.decode_claims(
                (name, *data.records[name].raw, again) for name, again in candidates[:limit]
            )
            for claim in claims:
                name = claim.entry.name
                data.due.pop(name, None)
                data.in_flight[name] = InFlight(name, lease.token, now, claim.state.next_run_at)
            for exc in corrupt:
                data.due.pop(exc.name, None)
                data.in_flight.pop(exc.name, None)
                data.corrupt[exc.name] = exc.cause
                data.corrupt_since.setdefault(exc.name, now)
            next_due = min(data.due.values(), default=None)
            return ClaimResult(tuple(claims), tuple(corrupt), next_due)

    def ack(self, lease: Lease, acks: Sequence[Ack]) -> None:
        """Record the outcome of claimed entries (see :meth:`Store.ack`)."""
        with self._data.mutex:
            self._lock._check(lease)
            for ack in acks:
                self._data.in_flight.pop(ack.name, None)
                if ack.name not in self._data.records:
                    continue  # deleted while in flight: stays deleted
                try:
                    stored = self._read(ack.name)
                except CorruptRecord as exc:
                    self._data.corrupt[ack.name] = exc.cause
                    self._data.corrupt_since.setdefault(ack.name, self._clock())
                    continue
                self._write(stored.entry, *storekit.merge_ack(ack, stored))
                if ack.runs:
                    kept = self._data.history.get(ack.name, [])
                    self._data.history[ack.name] = storekit.append_history(
                        kept, ack.runs, self.history_size
                    )

    def history(self, name: str, limit: int | None = None) -> list[RunRecord]:
        """Return the run history of ``name``, newest first (see :meth:`Store.history`)."""
        with self._data.mutex:
            if name not in self._data.records:
                raise EntryNotFound(name)
            return storekit.read_history(self._data.history.get(name, []), limit)

    def unreadable_records(self) -> list[CorruptRecord]:
        """Return the records a claim or ack took out as unreadable, as noted."""
        with self._data.mutex:
            return [
                CorruptRecord(name, cause, self._data.corrupt_since.get(name))
                for name, cause in sorted(self._data.corrupt.items())
            ]

    def retry_unreadable(self, now: datetime) -> list[str]:
        """Put back the records a claim took out as unreadable that read now."""
        data = self._data
        revived = []
        with data.mutex:
            for name in sorted(data.corrupt):
                record = data.records.get(name)
                if record is None or name in data.in_flight:
                    continue
                try:
                    entry, state = storekit.read_record(name, *record.raw)
                except CorruptRecord:
                    continue
                self._write(entry, state)
                revived.append(name)
        return revived

    def record_beat(self, info: BeatInfo) -> None:
        """Keep what the scheduler said at start."""
        with self._data.mutex:
            self._data.beat_info = info.to_json()

    def beat_info(self) -> BeatInfo | None:
        """Return what the last scheduler to start recorded."""
        with self._data.mutex:
            text = self._data.beat_info
        return None if text is None else BeatInfo.from_json(text)

    def in_flight(self) -> list[InFlight]:
        """Return unacked claims, oldest first."""
        with self._data.mutex:
            return sorted(self._data.in_flight.values(), key=lambda f: (f.claimed_at, f.name))

    def status(self) -> StoreStatus:
        """Return a snapshot of the schedule."""
        with self._data.mutex:
            return StoreStatus(
                url=self.url,
                leader=self._lock.current(),
                last_tick_at=self._data.last_tick_at,
                entry_count=len(self._data.records),
                corrupt_count=len(self.corrupt_records()),
                in_flight=tuple(self.in_flight()),
                next_due_at=min(self._data.due.values(), default=None),
            )

    # -- deprecated test helpers -----------------------------------------------------------

    def write_raw(self, name: str, entry_json: str, state_json: str, due_at: datetime) -> None:
        """Deprecated: use :func:`beatcore.testing.plant_memory_record`."""
        warnings.warn(_MOVED.format("write_raw", "plant_memory_record"), DeprecationWarning, 2)
        with self._data.mutex:
            self._data.records[name] = _Record(entry_json, state_json)
            self._data.due[name] = due_at

    @classmethod
    def forget(cls, name: str) -> None:
        """Deprecated: use :func:`beatcore.testing.forget_memory_schedule`."""
        warnings.warn(_MOVED.format("forget", "forget_memory_schedule"), DeprecationWarning, 2)
        with _SCHEDULES_MUTEX:
            _SCHEDULES.pop(name, None)


_MOVED = "MemoryStore.{} is deprecated: tests use beatcore.testing.{} instead"


@hookimpl
def beatcore_store_from_url(url: str, options: Mapping[str, Any]) -> Store | None:
    """Open ``memory://NAME`` (``memory://`` alone is ``memory://default``)."""
    parts = urlsplit(url)
    if parts.scheme != "memory":
        return None
    name = (parts.netloc + parts.path).strip("/") or "default"
    return MemoryStore(
        name,
        clock=options.get("clock") or utc_now,
        default_timezone=options.get("default_timezone"),
    )
