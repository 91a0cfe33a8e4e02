"""The store kit: the rules every store shares, so a store file holds only atomicity and I/O.

A store keeps records as the serializer's bytes (a definition and a state per entry) and does
its own locking (a mutex, a transaction, a compare-and-set script). Everything it decides
about those records is here, as pure functions of what it read:

- :func:`decode_record` turns any stored bytes into a :class:`Record` or a
  :class:`~beatcore.errors.CorruptRecord` (never anything else: this is the one place where a
  record's exceptions are caught, see :func:`beatcore.serializer.loads_entry`);
- :func:`decode_claims` splits the rows a claim took into claims and unreadable records, so
  one bad record never holds back the rest of its batch;
- :func:`decide_save` says whether a save keeps the stored state or recomputes the next run;
- :func:`plan_static_sync` says what the startup sync adds, updates and removes
  (:class:`~beatcore.new_states.NewStates`, importable from here, gives the new entries
  their states, once per timing they share);
- :func:`merge_ack` merges an ack into the state written while the entry was in flight
  (:func:`acked` from the stored bytes);
- :func:`revivable` says which records set aside as unreadable read again;
- :func:`list_entries` and :func:`list_corrupt` answer ``entries()`` and ``corrupt_records()``;
- :func:`to_micros`, :func:`from_micros` and :func:`text` convert what backends store;
- :func:`~beatcore.change_log.trim_log`, :func:`~beatcore.change_log.kept_changes`,
  :func:`~beatcore.change_log.changes_by_name`, :func:`~beatcore.change_log.change_texts`
  and :func:`~beatcore.change_log.read_changes` (from :mod:`beatcore.change_log`,
  importable from here) are the rules of the change log (what a write keeps per name, the
  records' texts of a batch, how records read);
- :class:`Migration` is one step of a SQL store's schema.

See docs/writing-stores.rst for how a store uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import NamedTuple, overload

import attrs

from beatcore import serializer, timing
from beatcore.change_log import change_texts as change_texts
from beatcore.change_log import changes_by_name as changes_by_name
from beatcore.change_log import kept_changes as kept_changes
from beatcore.change_log import read_changes as read_changes
from beatcore.change_log import read_newest
from beatcore.change_log import trim_log as trim_log
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.frozen_build import positional_builder
from beatcore.new_states import NewStates as NewStates
from beatcore.store import Ack, Claim, Running, RunRecord, SyncReport
from beatcore.timeutil import UTC

#: What a store hands the kit for one stored field: the serializer's text or bytes, or None
#: when the field is absent.
Raw = str | bytes | None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_new_tuple = tuple.__new__
MISSING_DEFINITION = "definition: missing (the state has no definition record)"
MISSING_STATE = "state: missing (the definition has no state record)"


class Record(NamedTuple):
    """A readable stored entry: its definition and its state."""

    entry: Entry
    state: EntryState


class SaveDecision(NamedTuple):
    """What :func:`decide_save` decided: the state after the save, and whether to write."""

    state: EntryState
    changed: bool


class AckMerge(NamedTuple):
    """What :func:`merge_ack` decided: the state to write and the due-index instant."""

    state: EntryState
    due_at: datetime | None


class AckedRecord(NamedTuple):
    """What :func:`acked` decided: the record to write and its due-index instant."""

    entry: Entry
    state: EntryState
    due_at: datetime | None


class StaticSyncPlan(NamedTuple):
    """What :func:`plan_static_sync` decided.

    :param report: what the sync changes, for :meth:`~beatcore.store.Store.sync_static`.
    :param writes: the records to write (added and updated entries with their states).
    :param removed: the names of the static entries to delete.
    """

    report: SyncReport
    writes: tuple[Record, ...]
    removed: tuple[str, ...]


# -- values as backends store them -----------------------------------------------------------


@overload
def to_micros(when: datetime) -> int: ...
@overload
def to_micros(when: None) -> None: ...
def to_micros(when: datetime | None) -> int | None:
    """Return an instant as integer microseconds since the Unix epoch (None stays None).

    Exact (no float rounding), so it is safe as a sort key, a Redis score or an SQL integer.
    """
    return None if when is None else (when - _EPOCH) // _MICROSECOND


@overload
def from_micros(value: int | float | str | bytes) -> datetime: ...
@overload
def from_micros(value: None) -> None: ...
def from_micros(value: int | float | str | bytes | None) -> datetime | None:
    """Return the aware UTC instant of epoch microseconds (see :func:`to_micros`).

    Takes what backends hand back: an int, a float score, or its text as str or bytes.

    :raises ValueError: the text is not a number.
    """
    if value is None:
        return None
    if type(value) is not int:
        if isinstance(value, (bytes, str)):
            text_value = text(value)
            try:
                value = int(text_value)
            except ValueError:
                value = float(text_value)
        if isinstance(value, float):
            value = round(value)
    return _EPOCH + int(value) * _MICROSECOND


def text(value: bytes | str | None, errors: str = "strict") -> str:
    """Return a backend's str or UTF-8 bytes as str; None is ``""``.

    ``errors`` is the decoding error handler (``"surrogateescape"`` keeps undecodable bytes
    recoverable, ``"backslashreplace"`` makes them printable).
    """
    if value is None:
        return ""
    return value.decode("utf-8", errors) if isinstance(value, bytes) else value


# -- reading records --------------------------------------------------------------------------


def read_record(name: str, entry_raw: Raw, state_raw: Raw) -> Record:
    """Decode the stored definition and state of ``name``.

    Called by every store call that needs an entry whole (get-and-modify, claim, ack).

    :raises CorruptRecord: either field is absent or cannot be read, for whatever reason.
    """
    if entry_raw is None:
        raise CorruptRecord(name, MISSING_DEFINITION)
    entry = serializer.loads_entry(entry_raw, name)
    if state_raw is None:
        raise CorruptRecord(name, MISSING_STATE)
    state = serializer.loads_state(state_raw, name)
    return _new_tuple(Record, (entry, state))  # Record(entry, state), without its __new__


def decode_record(name: str, entry_raw: Raw, state_raw: Raw) -> Record | CorruptRecord:
    """Return the :class:`Record` stored under ``name``, or the error saying why it is unreadable.

    Never raises for bad bytes: any exception a record can provoke is a CorruptRecord.
    """
    try:
        return read_record(name, entry_raw, state_raw)
    except CorruptRecord as exc:
        return exc


#: ``claim_of(entry, state, recovered, running)``: that Claim, built without its ``__init__``.
claim_of: Callable[[Entry, EntryState, bool, Running | None], Claim] = positional_builder(Claim)


def decode_claims(
    rows: Iterable[tuple[str, Raw, Raw, bool]],
) -> tuple[list[Claim], list[CorruptRecord]]:
    """Split the rows a claim took into claims and unreadable records, in row order.

    ``rows`` are ``(name, definition, state, recovered)``. Called by ``claim_due`` inside its
    atomic step: the store takes the unreadable ones out of the due index (keeping them stored)
    and marks the claims in flight, so a bad record never holds back the rest of the batch.
    """
    claims: list[Claim] = []
    corrupt: list[CorruptRecord] = []
    for name, entry_raw, state_raw, recovered in rows:
        try:
            entry, state = read_record(name, entry_raw, state_raw)
        except CorruptRecord as exc:
            corrupt.append(exc)
            continue
        claims.append(claim_of(entry, state, recovered, None))
    return claims, corrupt


def list_entries(records: Iterable[tuple[str, Raw]]) -> list[Entry]:
    """Return the readable definitions of ``(name, definition)`` pairs, sorted by name.

    Answers :meth:`~beatcore.store.Store.entries`; unreadable records are left out.
    """
    found = []
    for name, entry_raw in sorted(records, key=_by_name):
        if entry_raw is None:
            continue
        try:
            found.append(serializer.loads_entry(entry_raw, name))
        except CorruptRecord:
            continue
    return found


def list_corrupt(records: Iterable[tuple[str, Raw, Raw]]) -> list[CorruptRecord]:
    """Return the error of each unreadable ``(name, definition, state)``, sorted by name.

    Answers :meth:`~beatcore.store.Store.corrupt_records`.
    """
    errors = []
    for name, entry_raw, state_raw in sorted(records, key=_by_name):
        found = decode_record(name, entry_raw, state_raw)
        if isinstance(found, CorruptRecord):
            errors.append(found)
    return errors


def _by_name(record: tuple[str, object] | tuple[str, object, object]) -> str:
    return record[0]


# -- schema steps of SQL stores ---------------------------------------------------------------


@attrs.frozen
class Migration:
    """One forward step of a SQL store's schema: the statements that take it from version
    ``version - 1`` to ``version``. A store keeps its steps oldest first and never edits one
    that has shipped; the last step's version is the schema version it writes."""

    version: int
    description: str
    statements: tuple[str, ...]


# -- deciding writes --------------------------------------------------------------------------


def decide_save(
    entry: Entry,
    stored: Record | CorruptRecord | None,
    now: datetime,
    default_tz: str | tzinfo | None,
) -> SaveDecision:
    """Decide what saving ``entry`` over what is stored under its name does.

    ``stored`` is None for a new name; an unreadable record is replaced as if new. An equal
    definition changes nothing (``changed`` False: the store writes nothing); otherwise the
    state is kept unless the timing changed (:func:`beatcore.timing.state_after_save`).
    """
    if stored is None or isinstance(stored, CorruptRecord):
        return SaveDecision(timing.state_after_save(None, None, entry, now, default_tz), True)
    old, state = stored
    if serializer.entry_to_dict(old) == serializer.entry_to_dict(entry):
        return SaveDecision(state, False)
    return SaveDecision(timing.state_after_save(old, state, entry, now, default_tz), True)


def is_removable_static(name: str, entry_raw: Raw) -> bool:
    """Return True when the static sync may delete the record ``name`` it was not given.

    Only a readable static definition is removed: a dynamic entry is never touched, and an
    unreadable one is kept (it may be a static entry of a release that reads it).
    """
    if entry_raw is None:
        return False
    try:
        return serializer.loads_entry(entry_raw, name).static
    except CorruptRecord:
        return False


def plan_static_sync(
    entries: Iterable[Entry],
    stored: Mapping[str, tuple[Raw, Raw]],
    keep: Iterable[str],
    now: datetime,
    default_tz: str | tzinfo | None,
) -> StaticSyncPlan:
    """Plan :meth:`~beatcore.store.Store.sync_static` from every stored record.

    ``stored`` maps each stored name to its ``(definition, state)``. Each given entry is
    saved as :func:`decide_save` says; a stored static entry neither given nor in ``keep`` is
    removed (:func:`is_removable_static`). The store applies the plan in one atomic step.
    A new entry's state is :class:`~beatcore.new_states.NewStates`' (what ``decide_save``
    gives it, computed once for the entries that share their timing).
    """
    wanted = {entry.name: entry for entry in entries}
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    writes: list[Record] = []
    new_states = NewStates(now, default_tz)
    for name, entry in wanted.items():
        raw = stored.get(name)
        found = None if raw is None else decode_record(name, *raw)
        if found is None or isinstance(found, CorruptRecord):  # as decide_save: new
            state, changed = new_states.state(entry), True
        else:
            state, changed = decide_save(entry, found, now, default_tz)
        if not changed:
            unchanged.append(name)
            continue
        (updated if raw is not None else added).append(name)
        writes.append(Record(entry, state))
    kept = set(keep)
    removed = tuple(
        name
        for name in sorted(set(stored) - set(wanted) - kept)
        if is_removable_static(name, stored[name][0])
    )
    report = SyncReport(tuple(added), tuple(updated), removed, tuple(unchanged))
    return StaticSyncPlan(report, tuple(writes), removed)


def merge_ack(ack: Ack, stored: Record) -> AckMerge:
    """Merge ``ack`` into the record stored now (see :class:`~beatcore.store.Ack`).

    Called by ``ack`` for each acked entry that still exists (a deleted one stays deleted):
    returns the state to write and the instant to put in the due index (None: not due).
    """
    entry, current = stored
    merged = timing.state_after_ack(current, ack.claimed, ack.state)
    return AckMerge(merged, timing.due_after_ack(entry, merged, ack.state, ack.due_at))


def acked(ack: Ack, entry_raw: Raw, state_raw: Raw) -> AckedRecord | CorruptRecord:
    """Return the record to write for ``ack`` over the stored bytes (:func:`merge_ack`), or
    the error saying why they are unreadable (the store notes it; the record stays)."""
    found = decode_record(ack.name, entry_raw, state_raw)
    if isinstance(found, CorruptRecord):
        return found
    return AckedRecord(found.entry, *merge_ack(ack, found))


def revivable(rows: Iterable[tuple[str, Raw, Raw]]) -> list[tuple[str, Record]]:
    """Return ``(name, record)`` of each of ``rows`` that reads now, in row order: what
    ``retry_unreadable`` puts back in the due index (the others stay set aside)."""
    revived = []
    for name, entry_raw, state_raw in rows:
        found = decode_record(name, entry_raw, state_raw)
        if not isinstance(found, CorruptRecord):
            revived.append((name, found))
    return revived


def triggered(state: EntryState, at: datetime | None, now: datetime) -> EntryState:
    """Return ``state`` with a manual trigger at ``at`` (default ``now``), for ``trigger``."""
    return state.evolve(triggered_at=at or now)


def kept_runs(runs: Sequence[RunRecord], size: int) -> list[str]:
    """Return the texts of the newest ``size`` of ``runs`` (oldest first): what an ack adds to
    an entry's history. A store that appends rows calls it, then drops all but ``size`` rows."""
    return [run.to_json() for run in runs[-size:]] if size > 0 else []


def append_history(stored: Sequence[str], runs: Sequence[RunRecord], size: int) -> list[str]:
    """Return an entry's history texts, oldest first, after adding ``runs``: the last ``size``.

    ``stored`` is what the store keeps (oldest first). Called by a store's ack for each
    ``Ack.runs``; only the records that are kept are serialized (a catch-up that skipped
    ten thousand occurrences writes ``size`` of them).
    """
    if size <= 0:
        return []
    fresh = kept_runs(runs, size)
    kept = size - len(fresh)
    return [*(stored[-kept:] if kept > 0 else ()), *fresh]


def read_history(stored: Sequence[str | bytes], limit: int | None) -> list[RunRecord]:
    """Return the readable records of ``stored`` (oldest first), newest first, at most
    ``limit``; an unreadable one is left out and never stops the others."""
    return read_newest(reversed(stored), limit, RunRecord.from_json)
