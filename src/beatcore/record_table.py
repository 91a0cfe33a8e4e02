"""The store kit's record table: a schedule's bookkeeping over plain mappings.

A key-value store keeps, per entry, the serializer's bytes of its definition and state, and
around them a due index, the claims in flight, the notes on records a tick found unreadable
and the run history. :class:`RecordTable` keeps all of that in mappings and applies the store
kit's rules (:mod:`beatcore.storekit`) to them; it never locks. A store built on it supplies
only its atomicity (one mutex, one transaction around every call) and its I/O (the mappings:
dicts for the memory store; any ``MutableMapping`` that reads back what was set, such as a
transaction's view of a key-value database). ``beatcore.stores.memory`` is that store.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from datetime import datetime, timedelta, tzinfo

import attrs

from beatcore import outcomes, serializer, storekit, timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord, EntryNotFound
from beatcore.store import (
    Ack,
    ClaimResult,
    InFlight,
    LockInfo,
    Running,
    RunOutcome,
    RunRecord,
    StoreStatus,
    SyncReport,
)

# What a table keeps per entry: the serializer's text of its definition and of its state.
StoredPair = tuple[str | bytes, str | bytes]


def _in_flight_order(claim: InFlight) -> tuple[datetime, str]:
    return claim.claimed_at, claim.name


@attrs.define
class RecordTable:
    """One schedule's records and indexes; every method expects the caller's atomicity.

    :param records: name -> the serializer's ``(definition, state)`` text.
    :param due: name -> due instant, for the entries not claimed and not unreadable.
    :param in_flight: name -> its claim not acked yet.
    :param unreadable: name -> ``(cause, since)`` of a record a claim or ack took out as
        unreadable (cleared by a write of the entry).
    :param history: name -> its run records' texts, oldest first.
    :param running: name -> the text of its running fact (:class:`~beatcore.store.Running`).
    :param early: name -> task id -> the text of a worker's report that came before the ack
        wrote its run's record, oldest first (see :mod:`beatcore.outcomes`).
    :param last_tick_at: the ``now`` of the last claim.
    """

    records: MutableMapping[str, StoredPair] = attrs.field(factory=dict)
    due: MutableMapping[str, datetime] = attrs.field(factory=dict)
    in_flight: MutableMapping[str, InFlight] = attrs.field(factory=dict)
    unreadable: MutableMapping[str, tuple[str, datetime]] = attrs.field(factory=dict)
    history: MutableMapping[str, list[str]] = attrs.field(factory=dict)
    running: MutableMapping[str, str] = attrs.field(factory=dict)
    early: MutableMapping[str, dict[str, str]] = attrs.field(factory=dict)
    last_tick_at: datetime | None = None

    # -- reads and writes of one record ---------------------------------------------------

    def raw(self, name: str) -> StoredPair:
        """Return the stored ``(definition, state)`` of ``name`` (raises EntryNotFound)."""
        try:
            return self.records[name]
        except KeyError:
            raise EntryNotFound(name) from None

    def write(self, entry: Entry, state: EntryState, due: datetime | None = None) -> None:
        """Store ``entry`` and ``state``, clearing any unreadable note; ``due`` defaults to
        what the state says, and an entry in flight stays out of the due index."""
        name = entry.name
        self.records[name] = (serializer.dumps_entry(entry), serializer.dumps_state(state))
        self.unreadable.pop(name, None)
        if due is None:
            due = timing.state_due_at(entry, state)
        if due is None or name in self.in_flight:
            self.due.pop(name, None)
        else:
            self.due[name] = due

    def _note_unreadable(self, error: CorruptRecord, now: datetime) -> None:
        noted = self.unreadable.get(error.name)
        self.unreadable[error.name] = (error.cause, now if noted is None else noted[1])

    # -- definitions ----------------------------------------------------------------------

    def save(self, entry: Entry, now: datetime, default_tz: str | tzinfo | None) -> EntryState:
        """Save ``entry`` as :func:`~beatcore.storekit.decide_save` says; return its state."""
        raw = self.records.get(entry.name)
        stored = None if raw is None else storekit.decode_record(entry.name, *raw)
        state, changed = storekit.decide_save(entry, stored, now, default_tz)
        if changed:
            self.write(entry, state)
        return state

    def get(self, name: str) -> Entry:
        """Return the definition of ``name`` (raises EntryNotFound, CorruptRecord)."""
        return serializer.loads_entry(self.raw(name)[0], name)

    def state(self, name: str) -> EntryState:
        """Return the state of ``name`` (raises EntryNotFound, CorruptRecord)."""
        return serializer.loads_state(self.raw(name)[1], name)

    def delete(self, name: str) -> None:
        """Remove ``name`` with its due slot, claim, note and history (raises EntryNotFound)."""
        if self.records.pop(name, None) is None:
            raise EntryNotFound(name)
        for index in (
            self.due,
            self.in_flight,
            self.unreadable,
            self.history,
            self.running,
            self.early,
        ):
            index.pop(name, None)

    def entries(self) -> list[Entry]:
        """Return the readable definitions, sorted by name."""
        return storekit.list_entries((name, raw[0]) for name, raw in self.records.items())

    def corrupt_records(self) -> list[CorruptRecord]:
        """Return the error of each unreadable record, with ``since`` where one was noted."""
        errors = storekit.list_corrupt((name, *raw) for name, raw in self.records.items())
        for error in errors:
            noted = self.unreadable.get(error.name)
            error.since = None if noted is None else noted[1]
        return errors

    def set_enabled(
        self, name: str, enabled: bool, now: datetime, default_tz: str | tzinfo | None
    ) -> None:
        """Save ``name`` enabled or disabled, unless it already is."""
        entry = self.get(name)
        if entry.enabled != enabled:
            self.save(entry.evolve(enabled=enabled), now, default_tz)

    def trigger(self, name: str, at: datetime | None, now: datetime) -> None:
        """Make ``name`` due once more at ``at`` (default ``now``)."""
        entry, state = storekit.read_record(name, *self.raw(name))
        self.write(entry, storekit.triggered(state, at, now))

    def sync_static(
        self,
        entries: Iterable[Entry],
        keep: Iterable[str],
        now: datetime,
        default_tz: str | tzinfo | None,
    ) -> SyncReport:
        """Apply :func:`~beatcore.storekit.plan_static_sync` to the table; return its report."""
        plan = storekit.plan_static_sync(entries, self.records, keep, now, default_tz)
        for entry, state in plan.writes:
            self.write(entry, state)
        for name in plan.removed:
            self.delete(name)
        return plan.report

    # -- scheduling -----------------------------------------------------------------------

    def claim(self, token: int, now: datetime, limit: int, reclaim_after: float) -> ClaimResult:
        """Claim up to ``limit`` entries under ``token``: claims older than ``reclaim_after``
        seconds first (recovered), then the due ones, earliest first. The caller checked the
        lease; see :meth:`~beatcore.store.Store.claim_due`."""
        self.last_tick_at = now
        stale = now - timedelta(seconds=reclaim_after)
        recovered = sorted(
            (claim for claim in self.in_flight.values() if claim.claimed_at <= stale),
            key=_in_flight_order,
        )
        due = sorted((at, name) for name, at in self.due.items() if at <= now)
        candidates = [(claim.name, True) for claim in recovered] + [(n, False) for _, n in due]
        claims, corrupt = storekit.decode_claims(
            (name, *self.records[name], again) for name, again in candidates[:limit]
        )
        for claim in claims:
            name = claim.entry.name
            self.due.pop(name, None)
            self.in_flight[name] = InFlight(name, token, now, claim.state.next_run_at)
        for error in corrupt:
            self.due.pop(error.name, None)
            self.in_flight.pop(error.name, None)
            self._note_unreadable(error, now)
        if self.running:
            claims = outcomes.with_running(claims, self.running)
        return ClaimResult(tuple(claims), tuple(corrupt), min(self.due.values(), default=None))

    def ack(self, acks: Sequence[Ack], now: datetime, history_size: int) -> None:
        """Merge each ack into its record (:func:`~beatcore.storekit.acked`) and append its
        runs to the history; a deleted entry stays deleted. The caller checked the lease."""
        for ack in acks:
            self.in_flight.pop(ack.name, None)
            raw = self.records.get(ack.name)
            if raw is None:
                continue
            merged = storekit.acked(ack, *raw)
            if isinstance(merged, CorruptRecord):
                self._note_unreadable(merged, now)
                continue
            self.write(*merged)
            runs: Sequence[RunRecord] = ack.runs
            early = self.early.get(ack.name)
            if early and runs:
                runs, used = outcomes.with_reports(runs, early)
                if used:
                    self._keep_early(ack.name, {t: r for t, r in early.items() if t not in used})
            if runs:
                kept = self.history.get(ack.name, [])
                self.history[ack.name] = storekit.append_history(kept, runs, history_size)
            if ack.running is not None:
                self._merge_running(ack.name, ack.running, runs, now)

    def _merge_running(
        self, name: str, acked: Running, runs: Sequence[RunRecord], now: datetime
    ) -> None:
        report = next((run for run in runs if run.task_id == acked.task_id), None)
        stored = Running.from_json(self.running.get(name))
        merged, due_now = outcomes.running_after_ack(stored, acked, report)
        self.running[name] = merged.to_json()
        if due_now:
            self._due_now(name, now)

    def _keep_early(self, name: str, early: dict[str, str]) -> None:
        if early:
            self.early[name] = early
        else:
            self.early.pop(name, None)

    def _due_now(self, name: str, now: datetime) -> None:
        due = self.due.get(name)
        if due is not None and due > now:
            self.due[name] = now

    def record_outcome(self, outcome: RunOutcome, now: datetime) -> None:
        """Apply a worker's report (:func:`~beatcore.outcomes.apply_outcome`); a report of
        an entry that does not exist changes nothing."""
        name = outcome.name
        if name not in self.records:
            return
        history = list(self.history.get(name, ()))
        early = dict(self.early.get(name, {}))
        running = Running.from_json(self.running.get(name))
        write = outcomes.apply_outcome(history, early.get(outcome.task_id), running, outcome)
        if write.history_index is not None:
            history[write.history_index] = write.record.to_json()
            self.history[name] = history
        else:
            early.pop(outcome.task_id, None)
            early[outcome.task_id] = write.record.to_json()
            self._keep_early(name, dict(list(early.items())[-outcomes.EARLY_LIMIT :]))
        if write.running_changed:
            if write.running is None:
                self.running.pop(name, None)
            else:
                self.running[name] = write.running.to_json()
        if write.due_now:
            self._due_now(name, now)

    def last_runs(self, names: Iterable[str]) -> dict[str, RunRecord]:
        """Return the newest readable run record of each of ``names`` that has one."""
        found = {}
        for name in names:
            newest = storekit.read_history(self.history.get(name, ()), 1)
            if newest:
                found[name] = newest[0]
        return found

    def read_history(self, name: str, limit: int | None) -> list[RunRecord]:
        """Return the run history of ``name``, newest first (raises EntryNotFound)."""
        self.raw(name)
        return storekit.read_history(self.history.get(name, []), limit)

    def unreadable_records(self) -> list[CorruptRecord]:
        """Return the records a claim or ack noted as unreadable, sorted by name."""
        return [
            CorruptRecord(name, cause, since)
            for name, (cause, since) in sorted(self.unreadable.items())
        ]

    def retry_unreadable(self) -> list[str]:
        """Put back the noted records that read now and are not in flight; return their names."""
        rows = [
            (name, *self.records[name])
            for name in sorted(self.unreadable)
            if name in self.records and name not in self.in_flight
        ]
        revived = storekit.revivable(rows)
        for _, record in revived:
            self.write(*record)
        return [name for name, _ in revived]

    def claims(self) -> list[InFlight]:
        """Return the claims not acked yet, oldest first."""
        return sorted(self.in_flight.values(), key=_in_flight_order)

    def status(self, url: str, leader: LockInfo | None) -> StoreStatus:
        """Return the table's snapshot for :meth:`~beatcore.store.Store.status`."""
        return StoreStatus(
            url=url,
            leader=leader,
            last_tick_at=self.last_tick_at,
            entry_count=len(self.records),
            corrupt_count=len(self.corrupt_records()),
            in_flight=tuple(self.claims()),
            next_due_at=min(self.due.values(), default=None),
        )
