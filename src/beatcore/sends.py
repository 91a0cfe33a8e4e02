"""What became of each occurrence a tick meant to send: a value the outbox hands back.

The outbox reports one :class:`SendOutcome` per occurrence it was given (and none for the later
occurrences of an entry once one of its occurrences was not sent); the dispatcher turns each
entry's outcomes into its ack with :func:`beatcore.timing.state_after_dispatch` and
:func:`beatcore.timing.ack_due_at`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sized
from datetime import datetime
from typing import NamedTuple, Protocol

from beatcore.entry import Entry, EntryState

#: How the error of a failed send starts in the entry's ``last_error``.
SEND_FAILED = "send failed: "


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


def first_unsent(outcomes: Iterable[SendOutcome]) -> SendOutcome | None:
    """Return the earliest occurrence among ``outcomes`` that was not sent, or None."""
    unsent = [o for o in outcomes if o.status is not SendStatus.SENT]
    return min(unsent, key=lambda o: o.occurrence) if unsent else None


class Plan(Protocol):
    """What :func:`state_after_sends` reads of a :class:`beatcore.timing.RunPlan`."""

    @property
    def runs(self) -> tuple[datetime, ...]: ...
    @property
    def skipped(self) -> Sized: ...
    @property
    def next_run_at(self) -> datetime | None: ...


def state_after_sends(
    state: EntryState,
    plan: Plan,
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
        last_run_at, last_task_id = max(sent, key=lambda s: s[0])
        if triggered_at is not None and any(o == triggered_at for o, _ in sent):
            triggered_at = None
    else:
        last_run_at = state.last_run_at
        last_task_id = state.last_task_id
    return EntryState(
        next_run_at=next_run_at,
        last_run_at=last_run_at,
        total_run_count=state.total_run_count + len(sent),
        skipped_run_count=state.skipped_run_count + len(plan.skipped),
        last_task_id=last_task_id,
        last_error=error or (None if sent else state.last_error),
        triggered_at=triggered_at,
    )
