"""A tick's run records: what beat did with each occurrence of a claimed entry.

The dispatcher calls :func:`tick_runs` when it builds an entry's ack; the records ride in
:attr:`beatcore.store.Ack.runs`, so the store writes the history in the ack's own round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from beatcore import timing
from beatcore.runs import RunPlan, SendOutcome, SendStatus
from beatcore.store import Claim, RunRecord


def tick_runs(
    claim: Claim,
    plan: RunPlan,
    outcomes: Sequence[SendOutcome],
    sent_at: Mapping[datetime, datetime],
) -> tuple[RunRecord, ...]:
    """Return the run records of one claimed entry after a tick, oldest occurrence first.

    :param sent_at: when each sent occurrence's message was written, by occurrence.

    Sent, re-sent (the occurrence a dead leader claimed), skipped and failed occurrences are
    recorded; one the tick did not try (its send window closed) is not, as it is due again
    at once and will be recorded when it is sent.
    """
    if len(outcomes) == 1 and not plan.skipped:
        only = outcomes[0]
        if only.status is _SENT:  # an entry's usual tick: its one record, no list to sort
            occurrence = only.occurrence
            at = sent_at.get(occurrence)
            again = claim.recovered and occurrence == claim.state.next_run_at
            return (
                RunRecord(
                    occurrence,
                    only.task_id,
                    "resent" if again else "sent",
                    None,
                    at,
                    None if at is None else (at - occurrence).total_seconds(),
                ),
            )
    name = claim.entry.name
    resent = claim.state.next_run_at if claim.recovered else None
    records = (
        [
            RunRecord(s.occurrence, timing.task_id(name, s.occurrence), "skipped", s.reason)
            for s in plan.skipped
        ]
        if plan.skipped
        else []  # the usual tick of an entry: no comprehension run for nothing
    )
    for outcome in outcomes:
        if outcome.status is SendStatus.SENT:
            at = sent_at.get(outcome.occurrence)
            records.append(
                RunRecord(
                    outcome.occurrence,
                    outcome.task_id,
                    "resent" if outcome.occurrence == resent else "sent",
                    sent_at=at,
                    lateness=None if at is None else (at - outcome.occurrence).total_seconds(),
                )
            )
        elif outcome.status is SendStatus.FAILED:
            records.append(
                RunRecord(outcome.occurrence, outcome.task_id, "send_failed", str(outcome.error))
            )
    if len(records) > 1:
        records.sort(key=_occurrence)
    return tuple(records)


_SENT = SendStatus.SENT


def _occurrence(record: RunRecord) -> datetime:
    return record.occurrence
