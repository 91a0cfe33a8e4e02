"""When an entry runs: first and next occurrences, jitter, task ids and catch-up planning.

Pure functions of an entry, its state and "now"; stores and the scheduler call them so every
process computes the same instants and the same task ids for the same occurrence.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any, cast, overload

from beatcore import runs
from beatcore.entry import Entry, EntryState
from beatcore.missed import MAX_ENUMERATED_OCCURRENCES as MAX_ENUMERATED_OCCURRENCES
from beatcore.missed import Missed, missed_occurrences, with_omitted
from beatcore.runs import (
    SendOutcome,
    SendStatus,
    first_unsent,
    state_after_outcomes,
    state_after_sends,
)
from beatcore.schedules.interval import written_alike
from beatcore.task_ids import TASK_ID_NAMESPACE as TASK_ID_NAMESPACE
from beatcore.task_ids import task_id as task_id
from beatcore.timeutil import UTC, zone

_JUST_BEFORE = timedelta(microseconds=1)

# The plan of a tick's runs lives in beatcore.runs (below the outbox); importable from here.
RunPlan = runs.RunPlan
Skipped = runs.Skipped
CatchUpSettings = runs.CatchUpSettings


def entry_zone(entry: Entry, default_tz: str | tzinfo | None) -> tzinfo:
    """Return the zone calendar schedules of ``entry`` are evaluated in."""
    return zone(entry.tz if entry.tz is not None else default_tz)


def occurrence_after(
    entry: Entry, after: datetime, default_tz: str | tzinfo | None
) -> datetime | None:
    """Return the entry's first occurrence strictly after ``after`` (UTC), or None.

    None when the schedule has no more occurrences or the next one is past ``end_at``.
    """
    nxt = entry.schedule.next_after(after.astimezone(entry_zone(entry, default_tz)))
    if nxt is None:
        return None
    nxt = nxt.astimezone(UTC)
    if entry.end_at is not None and nxt > entry.end_at:
        return None
    return nxt


def first_run_at(
    entry: Entry,
    now: datetime,
    default_tz: str | tzinfo | None,
    *,
    last_run_at: datetime | None = None,
) -> datetime | None:
    """Return the first occurrence of a new (or rescheduled) entry.

    That is the first occurrence after ``now``, or at or after ``start_at`` when that is later.
    A one-off whose instant is already past (``Clocked``, or any schedule with an ``overdue``
    method) gives that instant, so it is due at the next tick, where the catch-up policy and
    ``misfire_grace`` decide whether it runs or is skipped (logged and counted) - unless the
    entry already ran it (``last_run_at``, from its state, is not before it).
    """
    if entry.start_at is not None and entry.start_at > now:
        return occurrence_after(entry, entry.start_at - _JUST_BEFORE, default_tz)
    following = occurrence_after(entry, now, default_tz)
    if following is not None:
        return following
    overdue = getattr(entry.schedule, "overdue", None)
    missed = overdue(now) if callable(overdue) else None
    if not isinstance(missed, datetime):
        return None
    if (
        (last_run_at is not None and last_run_at >= missed)
        or (entry.start_at is not None and missed < entry.start_at)
        or (entry.end_at is not None and missed > entry.end_at)
    ):
        return None
    return missed


def timing_changed(old: Entry, new: Entry) -> bool:
    """Return True when ``new`` decides its occurrences differently from ``old``.

    Called by stores on save: when True the next run is recomputed, otherwise the state is kept.
    """
    schedule, other = old.schedule, new.schedule
    return (
        not (
            written_alike(schedule, other)
            or (schedule.type_name == other.type_name and schedule.to_dict() == other.to_dict())
        )
        or (old.tz, old.start_at, old.end_at, old.max_runs)
        != (new.tz, new.start_at, new.end_at, new.max_runs)
        or (not old.enabled and new.enabled)
    )


def jitter_offset(name: str, occurrence: datetime, max_jitter: float) -> timedelta:
    """Return the deterministic delay in ``[0, max_jitter)`` seconds for one occurrence."""
    if max_jitter <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{name}\x00{occurrence.astimezone(UTC).isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=round(fraction * max_jitter, 6))


_LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


def due_at(entry: Entry, occurrence: datetime) -> datetime:
    """Return when ``occurrence`` of ``entry`` should be sent (occurrence plus its jitter).

    A jitter that carries the occurrence past the last instant a datetime holds gives that
    instant (an Entry allows any jitter a timedelta holds, up to 2.7 million years).
    """
    if entry.jitter <= 0:
        return occurrence
    try:
        return occurrence + jitter_offset(entry.name, occurrence, entry.jitter)
    except OverflowError:
        return _LAST_INSTANT


def state_due_at(entry: Entry, state: EntryState) -> datetime | None:
    """Return the instant the entry is next due in the store's due index, or None.

    A pending manual trigger makes it due at the trigger time; a disabled entry is otherwise
    never due.
    """
    triggered, next_run_at = state.triggered_at, state.next_run_at
    if not entry.enabled or next_run_at is None:
        return triggered
    at = next_run_at if entry.jitter <= 0 else due_at(entry, next_run_at)
    return at if triggered is None or at < triggered else triggered  # as min() picks


def plan_runs(
    entry: Entry,
    state: EntryState,
    now: datetime,
    default_tz: str | tzinfo | None,
    settings: CatchUpSettings,
    *,
    recovered: bool = False,
) -> RunPlan:
    """Decide which occurrences of a claimed entry to send at ``now`` and what comes next.

    Called by the scheduler for every entry a claim returned. Applies ``end_at``, ``max_runs``,
    the catch-up policy and ``misfire_grace``; a manual trigger always runs once. For a
    ``recovered`` claim (a previous leader claimed it and never acked) the claimed occurrence
    is sent again, with its task id, whatever the catch-up policy: it may already be on the
    broker, and dropping it would lose it silently if it is not. The occurrences that fell due
    after it follow the policy.
    """
    next_run_at = state.next_run_at
    missing = entry.enabled and next_run_at is not None and next_run_at <= now
    if not missing and entry.max_runs is None:  # what the steps below give then, at once
        triggered = state.triggered_at
        return RunPlan(() if triggered is None else (triggered,), (), next_run_at)
    missed = Missed([], next_run_at)
    if missing and next_run_at is not None:  # (for the type checker)
        missed = missed_occurrences(
            entry,
            next_run_at,
            now,
            lambda occ: occurrence_after(entry, occ, default_tz),
            # One more than the policy may send, so the last skipped one is listed too.
            keep=(max(settings.catch_up_limit, 1) if entry.catch_up == "all" else 1) + 1,
        )
    due, following = missed.due, missed.following
    if entry.end_at is not None:
        due = [occ for occ in due if occ <= entry.end_at]
    resend: list[datetime] = []
    if recovered and due:
        resend, due = due[:1], due[1:]

    skipped: list[Skipped] = []
    keep: list[datetime]
    if entry.catch_up == "all":
        keep = due[-settings.catch_up_limit :]
        skipped += [
            Skipped(o, "over catch_up_limit", "catch_up_limit")
            for o in due[: -settings.catch_up_limit]
        ]
    else:
        keep = due[-1:]
        skipped += [Skipped(o, f"missed, catch_up={entry.catch_up}", "catch_up") for o in due[:-1]]
        if entry.catch_up == "skip" and keep:
            late = (now - due_at(entry, keep[0])).total_seconds()
            if late > settings.missed_threshold:
                skipped.append(
                    Skipped(keep[0], f"missed by {late:.0f}s, catch_up=skip", "catch_up")
                )
                keep = []
    keep = resend + keep
    if entry.misfire_grace is not None:
        grace = entry.misfire_grace
        on_time = [o for o in keep if (now - due_at(entry, o)).total_seconds() <= grace]
        why = f"later than misfire_grace={grace:g}s"
        skipped += [Skipped(o, why, "misfire_grace") for o in keep if o not in on_time]
        keep = on_time

    runs = list(keep)
    if state.triggered_at is not None:
        runs.append(state.triggered_at)
    runs.sort()
    if entry.max_runs is not None:
        left = max(entry.max_runs - state.total_run_count, 0)
        for occ in runs[left:]:
            skipped.append(Skipped(occ, f"max_runs={entry.max_runs} reached", "max_runs"))
        runs = runs[:left]
        if state.total_run_count + len(runs) >= entry.max_runs:
            following = None
    skipped.sort(key=lambda s: s.occurrence)
    if missed.omitted:
        skipped = with_omitted(skipped, missed)
    return RunPlan(tuple(runs), tuple(skipped), following)


_OLD_CALL: Any = object()


@overload
def state_after_dispatch(
    entry: Entry, state: EntryState, plan: RunPlan, outcomes: Sequence[SendOutcome]
) -> EntryState: ...


@overload
def state_after_dispatch(
    entry: Entry,
    state: EntryState,
    plan: RunPlan,
    sent: Sequence[datetime],
    unsent: tuple[datetime, str | None] | None,
    /,
    *,
    task_ids: Sequence[str] | None = None,
) -> EntryState: ...


def state_after_dispatch(
    entry: Entry,
    state: EntryState,
    plan: RunPlan,
    outcomes: Sequence[SendOutcome] | Sequence[datetime],
    unsent: tuple[datetime, str | None] | None = _OLD_CALL,
    *,
    task_ids: Sequence[str] | None = None,
) -> EntryState:
    """Return the state of a claimed entry after a tick sent what it could of ``plan.runs``.

    Called by the dispatcher to build each ack, with the entry's ``outcomes`` as the outbox
    reported them. When an occurrence was not sent, the next run is the first such occurrence
    again, so it is retried with the same task id; a failed send leaves its error in
    ``last_error``.

    The older call ``state_after_dispatch(entry, state, plan, sent, unsent, task_ids=...)``
    (the sent occurrences, the first unsent one with its error or None when it was not tried,
    and the task ids of ``sent``) still works and warns: it is deprecated.

    :raises ValueError: an outcome of another entry; in the older call, ``task_ids`` that do
        not have one id per occurrence of ``sent``.
    """
    if unsent is not _OLD_CALL or task_ids is not None:
        warnings.warn(
            "state_after_dispatch(entry, state, plan, sent, unsent, task_ids=...) is "
            "deprecated: pass the entry's SendOutcome records (beatcore.runs)",
            DeprecationWarning,
            stacklevel=2,
        )
        sent = cast("Sequence[datetime]", outcomes)
        if task_ids is not None and len(task_ids) != len(sent):
            raise ValueError(
                f"state_after_dispatch of entry {entry.name!r}: {len(task_ids)} task ids for "
                f"{len(sent)} sent occurrences"
            )
        first = None if unsent is _OLD_CALL else unsent
        ids = task_ids if task_ids is not None else [task_id(entry.name, o) for o in sent]
        return state_after_sends(
            state,
            plan,
            list(zip(sent, ids, strict=True)),
            first[0] if first is not None else None,
            first[1] if first is not None else None,
        )
    records = cast("Sequence[SendOutcome]", outcomes)
    for record in records:
        if record.entry.name != entry.name:
            raise ValueError(
                f"state_after_dispatch of entry {entry.name!r} given an outcome of entry "
                f"{record.entry.name!r}"
            )
    return state_after_outcomes(state, plan, records)


def ack_due_at(
    entry: Entry,
    state: EntryState,
    outcomes: Sequence[SendOutcome],
    now: datetime,
    retry_delay: float,
) -> datetime | None:
    """Return when a claimed entry is next due, as its ack writes it into the due index.

    ``state`` is the entry's state after the tick (:func:`state_after_dispatch`). An
    occurrence that was not tried (the send window closed) is due again at ``now``; a failed
    send ``retry_delay`` seconds after ``now``; otherwise the entry is due when its state says
    (:func:`state_due_at`).
    """
    if len(outcomes) == 1 and outcomes[0].status is SendStatus.SENT:  # an entry's usual tick
        return state_due_at(entry, state)
    unsent = first_unsent(outcomes)
    if unsent is None:
        return state_due_at(entry, state)
    if unsent.status is SendStatus.NOT_TRIED:
        return now
    return now + timedelta(seconds=retry_delay)


def state_after_save(
    old: Entry | None,
    state: EntryState | None,
    new: Entry,
    now: datetime,
    default_tz: str | tzinfo | None,
) -> EntryState:
    """Return the state an entry has after ``new`` is saved over ``old`` (None: a new entry).

    Called by stores on save and static sync: the state is kept unless the timing changed, in
    which case the next occurrence is recomputed from ``now`` (run history kept).
    """
    if old is None or state is None:
        return EntryState(next_run_at=first_run_at(new, now, default_tz))
    if timing_changed(old, new):
        first = first_run_at(new, now, default_tz, last_run_at=state.last_run_at)
        return state.evolve(next_run_at=first)
    return state


def state_after_ack(current: EntryState, claimed: EntryState, acked: EntryState) -> EntryState:
    """Merge an ack into the state written meanwhile (see :class:`beatcore.store.Ack`).

    ``next_run_at`` and ``triggered_at`` keep values that changed while the entry was in flight;
    the run facts come from ``acked``.
    """
    merged = acked
    if current.next_run_at != claimed.next_run_at:
        merged = merged.evolve(next_run_at=current.next_run_at)
    if current.triggered_at != claimed.triggered_at:
        merged = merged.evolve(triggered_at=current.triggered_at)
    return merged


def due_after_ack(
    entry: Entry, merged: EntryState, acked: EntryState, acked_due_at: datetime | None
) -> datetime | None:
    """Return the due-index instant of an entry whose ack was merged into ``merged``.

    Called by stores in :meth:`~beatcore.store.Store.ack`. When nothing changed the entry while
    it was in flight (``merged`` is the acked state), the scheduler's ``acked_due_at`` stands:
    it carries what the state cannot, such as the retry delay after a failed send. Otherwise
    the due instant follows the merged state, and a disabled entry without a pending trigger
    is not due at all.
    """
    if merged == acked and (entry.enabled or merged.triggered_at is not None):
        return acked_due_at
    return state_due_at(entry, merged)
