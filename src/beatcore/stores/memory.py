"""The reference store: everything in process memory, ``memory://NAME``.

Stores opened with the same URL in one process share their data (as kombu's memory transport
does), so a scheduler and a management client in one process see the same schedule. Records are
kept as serialized JSON, exactly as a persistent store keeps them, so unreadable records behave
the same here as anywhere.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

from beatcore import storekit
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.hookspecs import hookimpl
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
from beatcore.stores.memory_data import forget as _forget
from beatcore.stores.memory_data import shared as _shared
from beatcore.stores.memory_lock import MemoryLock
from beatcore.timeutil import Clock, utc_now


class MemoryStore(Store):
    """A :class:`~beatcore.store.Store` kept in this process's memory.

    Its atomicity is one mutex per schedule around every call; its I/O is a
    :class:`~beatcore.record_table.RecordTable` of dicts, which applies the store kit's rules.
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

    # -- definitions ---------------------------------------------------------------------

    def save(self, entry: Entry) -> EntryState:
        """Insert or update ``entry`` (see :meth:`Store.save`)."""
        with self._data.mutex:
            return self._data.table.save(entry, self._clock(), self._tz)

    def get(self, name: str) -> Entry:
        """Return the definition called ``name``."""
        with self._data.mutex:
            return self._data.table.get(name)

    def delete(self, name: str) -> None:
        """Remove the entry with its state, due slot, claim and history."""
        with self._data.mutex:
            self._data.table.delete(name)

    def entries(self) -> list[Entry]:
        """Return the readable entries sorted by name."""
        with self._data.mutex:
            return self._data.table.entries()

    def corrupt_records(self) -> list[CorruptRecord]:
        """Return an error for each unreadable definition or state."""
        with self._data.mutex:
            return self._data.table.corrupt_records()

    def state(self, name: str) -> EntryState:
        """Return the state of ``name``."""
        with self._data.mutex:
            return self._data.table.state(name)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable ``name`` (re-enabling reschedules from now)."""
        with self._data.mutex:
            self._data.table.set_enabled(name, enabled, self._clock(), self._tz)

    def trigger(self, name: str, at: datetime | None = None) -> None:
        """Make ``name`` due once more at ``at`` (default now)."""
        with self._data.mutex:
            self._data.table.trigger(name, at, self._clock())

    def sync_static(self, entries: Iterable[Entry], keep: Iterable[str] = ()) -> SyncReport:
        """Replace the static entries with ``entries`` under one lock (atomic)."""
        with self._data.mutex:
            return self._data.table.sync_static(entries, keep, self._clock(), self._tz)

    # -- scheduling ----------------------------------------------------------------------

    def claim_due(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Renew the lease and claim up to ``limit`` due entries (see :meth:`Store.claim_due`)."""
        with self._data.mutex:
            self._lock._check(lease)
            return self._data.table.claim(lease.token, now, limit, reclaim_after)

    def ack(self, lease: Lease, acks: Sequence[Ack]) -> None:
        """Record the outcome of claimed entries (see :meth:`Store.ack`)."""
        with self._data.mutex:
            self._lock._check(lease)
            self._data.table.ack(acks, self._clock(), self.history_size)

    def history(self, name: str, limit: int | None = None) -> list[RunRecord]:
        """Return the run history of ``name``, newest first (see :meth:`Store.history`)."""
        with self._data.mutex:
            return self._data.table.read_history(name, limit)

    def record_changes(self, changes: Sequence[Change]) -> None:
        """Append ``changes`` to the change log (see :meth:`Store.record_changes`)."""
        kept = storekit.kept_changes(changes, self.change_log_size)
        texts = storekit.change_texts(kept)
        newest = [(c.name, text) for c, text in zip(kept, texts, strict=True)][::-1]
        with self._data.mutex:
            log = newest + self._data.change_log
            self._data.change_log = storekit.trim_log(log, self.change_log_size)

    def changes(self, name: str | None = None, limit: int | None = None) -> list[Change]:
        """Return the change log, newest first (see :meth:`Store.changes`)."""
        with self._data.mutex:
            log = self._data.change_log
            return storekit.read_changes(
                (text for owner, text in log if name is None or owner == name), limit
            )

    def last_runs(self, names: Iterable[str]) -> dict[str, RunRecord]:
        """Return the newest run record of each of ``names`` (see :meth:`Store.last_runs`)."""
        with self._data.mutex:
            return self._data.table.last_runs(names)

    records_outcomes = True

    def record_outcome(self, outcome: RunOutcome) -> None:
        """Apply a worker's report under the mutex (see :meth:`Store.record_outcome`)."""
        with self._data.mutex:
            self._data.table.record_outcome(outcome, self._clock())

    def unreadable_records(self) -> list[CorruptRecord]:
        """Return the records a claim or ack took out as unreadable, as noted."""
        with self._data.mutex:
            return self._data.table.unreadable_records()

    def retry_unreadable(self, now: datetime) -> list[str]:
        """Put back the records a claim took out as unreadable that read now."""
        with self._data.mutex:
            return self._data.table.retry_unreadable()

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
            return self._data.table.claims()

    def status(self) -> StoreStatus:
        """Return a snapshot of the schedule."""
        with self._data.mutex:
            return self._data.table.status(self.url, self._lock.current())

    # -- deprecated test helpers -----------------------------------------------------------

    def write_raw(self, name: str, entry_json: str, state_json: str, due_at: datetime) -> None:
        """Deprecated: use :func:`beatcore.testing.plant_memory_record`."""
        warnings.warn(_MOVED.format("write_raw", "plant_memory_record"), DeprecationWarning, 2)
        with self._data.mutex:
            self._data.table.records[name] = (entry_json, state_json)
            self._data.table.due[name] = due_at

    @classmethod
    def forget(cls, name: str) -> None:
        """Deprecated: use :func:`beatcore.testing.forget_memory_schedule`."""
        warnings.warn(_MOVED.format("forget", "forget_memory_schedule"), DeprecationWarning, 2)
        _forget(name)


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
