"""A tick's runs of one entry: what it plans to send, and what became of each send.

:func:`beatcore.timing.plan_runs` makes a :class:`RunPlan` of each claimed entry (the runs to
send and the occurrences it skips); the outbox reports one :class:`SendOutcome` per occurrence
it was given (and none for the later occurrences of an entry once one of its occurrences was
not sent); the dispatcher turns each entry's outcomes into its ack with
:func:`beatcore.timing.state_after_dispatch` and :func:`beatcore.timing.ack_due_at`. These
values are also importable from :mod:`beatcore.timing`, where they were first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import attrs

from beatcore.entry import Entry, EntryState
from beatcore.settings import DEFAULTS

#: How the error of a failed send starts in the entry's ``last_error``.
SEND_FAILED = "send failed: "


#: The kinds of :class:`Skipped` (a bounded set, e.g. for a metric's label).
SKIP_KINDS = ("catch_up", "catch_up_limit", "misfire_grace", "max_runs", "overlap", "other")


@attrs.frozen
class Skipped:
    """An occurrence that was not sent, and why.

    :param reason: for people (``"missed by 3600s, catch_up=skip"``).
    :param kind: which rule skipped it, one of ``SKIP_KINDS``; the reason says the same,
        so it takes no part in equality.
    :param also: how many more occurrences, after this one and before the next listed, were
        skipped for the same reason without being listed one by one (a downtime longer than
        ``beatcore.timing.MAX_ENUMERATED_OCCURRENCES`` occurrences of the entry); this
        one stands for ``1 + also`` occurrences.
    """

    occurrence: datetime
    reason: str
    kind: str = attrs.field(default="other", eq=False)
    also: int = attrs.field(default=0, kw_only=True)


def skipped_count(skipped: Iterable[Skipped]) -> int:
    """Return how many occurrences ``skipped`` stands for (counting each one's ``also``)."""
    return sum(1 + one.also for one in skipped)


@attrs.frozen
class RunPlan:
    """What one tick does with one due entry.

    :param runs: occurrences to send now, oldest first (a manual trigger is one of them).
    :param skipped: occurrences dropped by the catch-up policy or the misfire grace.
    :param next_run_at: the next occurrence after this tick, or None when there is none.
    """

    runs: tuple[datetime, ...]
    skipped: tuple[Skipped, ...]
    next_run_at: datetime | None


@attrs.frozen
class CatchUpSettings:
    """Scheduler-wide knobs of :func:`beatcore.timing.plan_runs`.

    :param missed_threshold: seconds past its due time after which an occurrence counts as
        missed (fell due while no leader ticked); ``skip`` drops those.
    :param catch_up_limit: most missed occurrences ``all`` sends for one entry in one go.
    """

    missed_threshold: float = DEFAULTS["beatcore_missed_threshold"]
    catch_up_limit: int = DEFAULTS["beatcore_catch_up_limit"]


class SendStatus(enum.Enum):
    """What happened to one occurrence's message."""

    #: Written to the broker.
    SENT = "sent"
    #: Tried, and the broker refused it or could not be reached (retried after a delay).
    FAILED = "failed"
    #: Not tried: the send window closed first (due again at once, for whichever process leads).
    NOT_TRIED = "not tried"


class SendOutcome(NamedTuple):
    """One occurrence of ``entry`` and what became of its message (task id ``task_id``).

    ``error`` is the exception of a ``FAILED`` send, None otherwise.
    """

    entry: Entry
    occurrence: datetime
    task_id: str
    status: SendStatus
    error: BaseException | None = None

    @property
    def last_error(self) -> str | None:
        """The text this outcome leaves in the entry's ``last_error`` (None: none of its own)."""
        if self.status is SendStatus.FAILED:
            return f"{SEND_FAILED}{self.error}"
        return None


_SENT = SendStatus.SENT


def first_unsent(outcomes: Iterable[SendOutcome]) -> SendOutcome | None:
    """Return the earliest occurrence among ``outcomes`` that was not sent, or None."""
    first: SendOutcome | None = None
    for outcome in outcomes:
        if outcome.status is not _SENT and (first is None or outcome.occurrence < first.occurrence):
            first = outcome
    return first


def state_after_outcomes(
    state: EntryState, plan: RunPlan, outcomes: Sequence[SendOutcome]
) -> EntryState:
    """Return the state of an entry after a tick whose sends of ``plan`` had ``outcomes``
    (all of that entry): :func:`beatcore.timing.state_after_dispatch` once the outcomes are
    known to be the entry's own (the dispatcher's are)."""
    if len(outcomes) == 1 and not plan.skipped:
        only = outcomes[0]
        if only.status is _SENT:  # the usual tick of an entry: what state_after_sends gives
            occurrence, triggered_at = only.occurrence, state.triggered_at
            return EntryState(
                plan.next_run_at,
                occurrence,
                state.total_run_count + 1,
                state.skipped_run_count,
                only.task_id,
                None,
                None if occurrence == triggered_at else triggered_at,
            )
    sent = [(o.occurrence, o.task_id) for o in outcomes if o.status is _SENT]
    unsent = first_unsent(outcomes)
    if unsent is None:
        return state_after_sends(state, plan, sent, None, None)
    return state_after_sends(state, plan, sent, unsent.occurrence, unsent.last_error)


def state_after_sends(
    state: EntryState,
    plan: RunPlan,
    sent: list[tuple[datetime, str]],
    unsent: datetime | None,
    error: str | None,
) -> EntryState:
    """Return the state of an entry after a tick sent ``sent`` (occurrence, task id) of ``plan``.

    ``unsent`` is the first planned occurrence that was not sent (None: all were), ``error``
    the text its failure leaves in ``last_error`` (None: it was not tried). The rule behind
    :func:`beatcore.timing.state_after_dispatch`.
    """
    triggered_at = state.triggered_at
    if unsent is None:
        next_run_at = plan.next_run_at
    else:
        done = {occurrence for occurrence, _ in sent}
        retry = [o for o in plan.runs if o not in done and o != triggered_at]
        next_run_at = retry[0] if retry else plan.next_run_at
    last_run_at: datetime | None
    last_task_id: str | None
    if sent:
        last_run_at, last_task_id = sent[0]
        for occurrence, sent_as in sent:
            if occurrence > last_run_at:
                last_run_at, last_task_id = occurrence, sent_as
            if occurrence == triggered_at:
                triggered_at = None
    else:
        last_run_at = state.last_run_at
        last_task_id = state.last_task_id
    skipped = state.skipped_run_count + skipped_count(plan.skipped) if plan.skipped else None
    # by position, in field order (a state per dispatched entry; keywords cost a third more)
    return EntryState(
        next_run_at,
        last_run_at,
        state.total_run_count + len(sent),
        state.skipped_run_count if skipped is None else skipped,
        last_task_id,
        error or (None if sent else state.last_error),
        triggered_at,
    )
