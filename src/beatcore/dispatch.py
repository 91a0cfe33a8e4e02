"""What a leader's tick does with the entries it claimed: plan, send, and build the acks.

For each claimed entry :func:`~beatcore.timing.plan_runs` decides which occurrences to send
(skips are logged and reported); every planned occurrence goes through one
:class:`~beatcore.outbox.Outbox`, with its deterministic task id; then each entry's ack says
what was sent and when the entry is next due.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery.utils.log import get_logger

from beatcore import timing
from beatcore.entry import Entry
from beatcore.listeners import Listeners
from beatcore.outbox import SEND_FAILED, EntryDispatch, Outbox
from beatcore.plugins import Plugins
from beatcore.send_window import SendWindow
from beatcore.settings import Settings
from beatcore.store import Ack, Claim
from beatcore.timeutil import Clock

logger = get_logger("beatcore.scheduler")

#: ``send(entry, task_id)``: publishes one message of ``entry`` through the scheduler's producer.
Send = Callable[[Entry, str], Any]


class ClaimDispatcher:
    """Sends the occurrences of claimed entries; one per scheduler, used by every tick.

    :param producer: returns the scheduler's kombu producer (opened on first use).
    """

    def __init__(
        self,
        settings: Settings,
        catch_up: timing.CatchUpSettings,
        plugins: Plugins,
        clock: Clock,
        *,
        producer: Callable[[], Any],
        send: Send,
        listeners: Listeners,
    ) -> None:
        self.settings = settings
        self.catch_up = catch_up
        self.plugins = plugins
        self.clock = clock
        self._producer = producer
        self._send = send
        self._listeners = listeners

    def dispatch(self, claims: Sequence[Claim], now: datetime, window: SendWindow) -> list[Ack]:
        """Send what is due of ``claims`` (nothing once ``window`` closes); return their acks.

        Called by the scheduler between its claim and its ack, with the claim's ``now``.
        """
        dispatches = [self._plan(claim, now) for claim in claims]
        if any(dispatch.plan.runs for dispatch in dispatches):
            self._send_all(dispatches, window)
        return [self._ack(dispatch, now) for dispatch in dispatches]

    def _plan(self, claim: Claim, now: datetime) -> EntryDispatch:
        """Decide what to send of one claimed entry; log and report what is skipped."""
        entry = claim.entry
        plan = timing.plan_runs(
            entry,
            claim.state,
            now,
            self.settings.timezone,
            self.catch_up,
            recovered=claim.recovered,
        )
        if plan.skipped:
            _log_skipped(entry, plan.skipped)
            self._listeners.occurrences_skipped(entry, plan.skipped)
        return EntryDispatch(claim, plan)

    def _send_all(self, dispatches: list[EntryDispatch], window: SendWindow) -> None:
        """Send every planned occurrence through one outbox (one producer, batched writes)."""
        try:
            producer = self._producer()
        except Exception as exc:  # the broker is unreachable (Celery gave up connecting)
            self._fail_all(dispatches, exc)
            return
        with Outbox(
            producer,
            window,
            flush_every=self.settings.publish_batch_size,
            publish=self._publish,
            on_sent=self._sent,
            on_failed=self._send_failed,
        ) as outbox:
            for dispatch in dispatches:
                name = dispatch.claim.entry.name
                for occurrence in dispatch.plan.runs:
                    outbox.add(dispatch, occurrence, timing.task_id(name, occurrence))

    def _fail_all(self, dispatches: list[EntryDispatch], error: Exception) -> None:
        """Record a failed send of every planned entry (no producer): acked with the retry
        delay, like any failed send, instead of left in flight."""
        failed = [d for d in dispatches if d.plan.runs]
        logger.error(
            "beatcore: no connection to the broker: %s; %d entries retry in %ss with the same "
            "task ids",
            error,
            len(failed),
            self.settings.dispatch_retry_delay,
        )
        for dispatch in failed:
            occurrence = dispatch.plan.runs[0]
            dispatch.mark_unsent(occurrence, f"{SEND_FAILED}{error}")
            self._listeners.dispatch_failed(
                dispatch.claim.entry,
                occurrence,
                timing.task_id(dispatch.claim.entry.name, occurrence),
                error,
            )

    def _publish(self, dispatch: EntryDispatch, task_id: str) -> Any:
        return self._send(dispatch.claim.entry, task_id)

    def _sent(self, dispatch: EntryDispatch, occurrence: datetime, task_id: str) -> None:
        """Called by the outbox once the message of ``occurrence`` was written."""
        entry = dispatch.claim.entry
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "Scheduler: Sending due task %s (%s) for %s, %.3fs late%s",
                entry.name,
                entry.task,
                occurrence.isoformat(),
                (self.clock() - occurrence).total_seconds(),
                " (recovered from a previous leader)" if dispatch.claim.recovered else "",
            )
        self._listeners.entry_dispatched(entry, occurrence, task_id)

    def _send_failed(
        self, dispatch: EntryDispatch, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        """Called by the outbox when the message of ``occurrence`` could not be written."""
        entry = dispatch.claim.entry
        logger.error(
            "beatcore: sending %s of entry %r (task %s, id %s) failed: %s; "
            "retrying in %ss with the same task id",
            occurrence.isoformat(),
            entry.name,
            entry.task,
            task_id,
            error,
            self.settings.dispatch_retry_delay,
            exc_info=error,
        )
        self._listeners.dispatch_failed(entry, occurrence, task_id, error)

    def _ack(self, dispatch: EntryDispatch, now: datetime) -> Ack:
        """Return the ack of one claimed entry after the outbox wrote what it could.

        An occurrence not tried (the send window closed) is due again at once, unchanged; a
        failed one after ``beatcore_dispatch_retry_delay``; both keep their task ids.
        """
        entry, state, unsent = dispatch.claim.entry, dispatch.claim.state, dispatch.unsent
        new_state = timing.state_after_dispatch(
            entry, state, dispatch.plan, dispatch.sent, unsent, task_ids=dispatch.task_ids
        )
        due: datetime | None
        if unsent is not None and unsent[1] is None:
            due = now
        elif unsent is not None:
            due = now + timedelta(seconds=self.settings.dispatch_retry_delay)
        else:
            due = timing.state_due_at(entry, new_state)
            if new_state.next_run_at is None and state.next_run_at is not None:
                logger.info("beatcore: entry %r has no occurrences left", entry.name)
        return Ack(entry.name, claimed=state, state=new_state, due_at=due)


def _log_skipped(entry: Entry, skipped: Sequence[timing.Skipped]) -> None:
    """Log the occurrences of ``entry`` one tick skipped: one line, however many there are.

    After a long downtime a 1-second entry skips ten thousand occurrences in one tick; a line
    for each would bury everything else in the log.
    """
    if len(skipped) == 1:
        (only,) = skipped
        logger.warning(
            "beatcore: skipped %s of entry %r: %s",
            only.occurrence.isoformat(),
            entry.name,
            only.reason,
        )
        return
    reasons = Counter(s.reason for s in skipped)
    logger.warning(
        "beatcore: skipped %d occurrences of entry %r, the first %s, the last %s: %s",
        len(skipped),
        entry.name,
        skipped[0].occurrence.isoformat(),
        skipped[-1].occurrence.isoformat(),
        "; ".join(
            reason if len(reasons) == 1 else f"{count} {reason}"
            for reason, count in reasons.items()
        ),
    )
