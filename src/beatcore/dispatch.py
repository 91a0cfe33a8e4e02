"""What a leader's tick does with the entries it claimed: plan, send, and build the acks.

For each claimed entry :func:`~beatcore.timing.plan_runs` decides which occurrences to send
(skips are logged and reported); every planned occurrence goes through one
:class:`~beatcore.outbox.Outbox`, with its deterministic task id, which reports what became of
each; then each entry's ack says what was sent and when the entry is next due.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Generator, Mapping, Sequence
from contextlib import closing
from datetime import datetime

import attrs
from celery.utils.log import get_logger

from beatcore import timing
from beatcore.entry import Entry
from beatcore.history import tick_runs
from beatcore.listeners import Listeners
from beatcore.outbox import Message, Outbox
from beatcore.overlap import OverlapPlan, RunLimits, running_after_sends
from beatcore.plans import TickPlans
from beatcore.publisher import Publisher
from beatcore.runs import (
    SEND_FAILED,
    SendOutcome,
    SendStatus,
    first_unsent,
    state_after_outcomes,
)
from beatcore.send_window import SendWindow
from beatcore.settings import Settings
from beatcore.store import Ack, Claim, Running
from beatcore.timeutil import Clock
from beatcore.values import printable

logger = get_logger("beatcore.scheduler")

_SENT = SendStatus.SENT


class ClaimDispatcher:
    """Sends the occurrences of claimed entries; one per scheduler, used by every tick.

    :param publisher: publishes one message (the scheduler's, built once).
    :param listeners: told of every send, failure and skip.
    :param limits: how long a run blocks its entry without reporting back (overlap
        policies); default: ``beatcore_overlap_timeout`` unless the entry sets its own.
    """

    def __init__(
        self,
        settings: Settings,
        catch_up: timing.CatchUpSettings,
        publisher: Publisher,
        listeners: Listeners,
        clock: Clock,
        limits: RunLimits | None = None,
    ) -> None:
        self.settings = settings
        self.catch_up = catch_up
        self.publisher = publisher
        self.listeners = listeners
        self.clock = clock
        self.limits = limits or RunLimits(None, settings.overlap_timeout)
        self._untracked: set[str] = set()  # entries with a policy, warned about once
        #: The send error whose traceback was logged last: the messages of one failed write
        #: share one error, which is logged with its traceback once, not once per message.
        self._traced: BaseException | None = None

    def dispatch(self, claims: Sequence[Claim], now: datetime, window: SendWindow) -> list[Ack]:
        """Send what is due of ``claims`` (nothing once ``window`` closes); return their acks.

        Called between a claim and its ack, with the claim's ``now``.
        """
        return list(self.dispatch_stream(claims, now, window))

    def dispatch_stream(
        self, claims: Sequence[Claim], now: datetime, window: SendWindow
    ) -> Generator[Ack, None, None]:
        """Send what is due of ``claims`` as :meth:`dispatch` does, yielding each claim's ack
        (in claim order) as soon as every message of its entry is settled, while the later
        entries' messages are still to be written: the scheduler hands the stream to
        :meth:`Store.ack_stream`, so a store can write the first acks while the rest is sent.

        Closing the stream early (its consumer failed) drops what the outbox buffered: those
        entries stay in flight, as after a crash, and so do the entries of the write whose
        reply was still unread (on the broker already: sent again, same task ids).
        """
        try:
            yield from self._stream(claims, now, window)
        finally:
            # the error holds the page's messages through its traceback: not kept past it
            self._traced = None

    def _stream(
        self, claims: Sequence[Claim], now: datetime, window: SendWindow
    ) -> Generator[Ack, None, None]:
        """The body of :meth:`dispatch_stream`."""
        tick_plans = TickPlans(
            now, self.settings.timezone, self.catch_up, tracked=self.settings.track_runs
        )
        plans = [self._plan(claim, tick_plans) for claim in claims]
        messages: list[Message] = []
        ends: list[int] = []  # per claim: how many messages precede the end of its own
        task_id = timing.task_id
        new = tuple.__new__  # Message's own __new__ is a Python call, per message
        for claim, plan in zip(claims, plans, strict=True):
            sends = plan.plan.runs if plan.release is None else plan.sends
            if sends:
                error = claim.state.last_error
                alone = error is not None and error.startswith(SEND_FAILED)  # failed last time
                entry = claim.entry
                name = entry.name
                if len(sends) == 1:  # the usual claim (no list made for it)
                    occurrence = sends[0]
                    messages.append(
                        new(Message, (entry, occurrence, task_id(name, occurrence), alone))
                    )
                else:
                    messages += [
                        Message(entry, occurrence, task_id(name, occurrence), alone)
                        for occurrence in sends
                    ]
            ends.append(len(messages))
        outcomes: dict[str, list[SendOutcome]] = {}
        sent_at: dict[str, dict[datetime, datetime]] = {}
        done = 0  # claims acked so far
        with closing(self._send_all(claims, messages, window, outcomes, sent_at)) as sending:
            for settled in sending:
                while done < len(claims) and ends[done] <= settled:
                    yield self._final_ack(claims[done], plans[done], now, outcomes, sent_at)
                    done += 1
        for claim, plan in zip(claims[done:], plans[done:], strict=True):
            yield self._final_ack(claim, plan, now, outcomes, sent_at)

    def _final_ack(
        self,
        claim: Claim,
        plan: OverlapPlan,
        now: datetime,
        outcomes: dict[str, list[SendOutcome]],
        sent_at: dict[str, dict[datetime, datetime]],
    ) -> Ack:
        """The ack of ``claim`` once its messages are settled (their records dropped)."""
        name = claim.entry.name
        return self._ack(claim, plan, outcomes.pop(name, ()), now, sent_at.pop(name, {}))

    def _plan(self, claim: Claim, plans: TickPlans) -> OverlapPlan:
        """Decide what to send of one claimed entry (its catch-up, then its overlap policy,
        through the tick's ``plans``); log and report what is skipped."""
        entry = claim.entry
        tracked = self.settings.track_runs
        if not tracked and entry.overlap != "allow" and entry.name not in self._untracked:
            self._untracked.add(entry.name)
            logger.warning(
                "beatcore: entry %r has overlap=%r but beatcore_track_runs is off, so no run "
                "reports its end: its occurrences are sent as with overlap='allow'",
                entry.name,
                entry.overlap,
            )
        overlap = plans.plan(claim)
        plan = overlap.plan
        if plan.skipped:
            _log_skipped(entry, plan.skipped)
            self.listeners.occurrences_skipped(entry, plan.skipped)
        return overlap

    def _send_all(
        self,
        claims: Sequence[Claim],
        messages: list[Message],
        window: SendWindow,
        outcomes: dict[str, list[SendOutcome]],
        sent_at: dict[str, dict[datetime, datetime]],
    ) -> Generator[int, None, None]:
        """Send ``messages`` through one outbox (one producer, batched writes), putting the
        outcomes by entry name into ``outcomes``, each logged and told to listeners as the
        outbox reports it (the sends of one write told together, after their log lines),
        and when each sent occurrence was written into ``sent_at`` (by
        entry and occurrence: the clock is read once per write, right after its reply was
        read, before the listeners of its messages run). Yields how many of ``messages`` are
        settled, as that grows."""
        if not messages:
            return
        try:
            producer = self.publisher.connect()
        except Exception as exc:  # the broker is unreachable (Celery gave up connecting)
            for outcome in self._unreachable(messages, exc):
                outcomes[outcome.entry.name] = [outcome]
            yield len(messages)
            return
        recovered = {claim.entry.name for claim in claims if claim.recovered}
        flush_every = self.settings.publish_batch_size
        left = 0
        with Outbox(self.publisher, producer, window, flush_every=flush_every) as outbox:
            dispatched = self.listeners.entries_dispatched
            for step, settled in outbox.send_settled(messages):
                written_at = None  # the sends of one step were written by one write
                logged = logger.isEnabledFor(logging.INFO)
                sent: list[SendOutcome] = []  # told to listeners together, in order
                for outcome in step:
                    entry, occurrence, _, status, _ = outcome
                    name = entry.name
                    got = outcomes.get(name)
                    if got is None:
                        outcomes[name] = [outcome]
                    else:
                        got.append(outcome)
                    if status is _SENT:
                        if written_at is None:
                            written_at = self.clock()
                        times = sent_at.get(name)
                        if times is None:
                            sent_at[name] = {occurrence: written_at}
                        else:
                            times[occurrence] = written_at
                        if logged:
                            self._log_sent(outcome, name in recovered)
                        sent.append(outcome)
                        continue
                    if sent:
                        dispatched(sent)
                        sent = []
                    if (
                        outcome.status is SendStatus.NOT_TRIED
                        and first_unsent(outcomes[name]) is outcome
                    ):
                        left += 1
                    self._report_failed(outcome)
                if sent:
                    dispatched(sent)
                yield settled
        if left:
            logger.warning(
                "beatcore: this tick could no longer be sure of its lease (ttl %gs), so it "
                "stopped sending; %d entries were left unsent and are due again at once, for "
                "whichever process leads (same task ids)",
                window.ttl,
                left,
            )

    def _unreachable(self, messages: list[Message], error: Exception) -> list[SendOutcome]:
        """Fail the first message of every entry (no producer): acked with the retry delay,
        like any failed send, instead of left in flight. Logged once for all of them."""
        firsts: dict[str, Message] = {}
        for message in messages:
            firsts.setdefault(message.entry.name, message)
        logger.error(
            "beatcore: no connection to the broker: %s; %d entries retry in %ss with the same "
            "task ids",
            error,
            len(firsts),
            self.settings.dispatch_retry_delay,
        )
        failed = [message.outcome(SendStatus.FAILED, error) for message in firsts.values()]
        for outcome in failed:
            self.listeners.dispatch_failed(
                outcome.entry, outcome.occurrence, outcome.task_id, error
            )
        return failed

    def _log_sent(self, outcome: SendOutcome, recovered: bool) -> None:
        """Log a send (at INFO); called as the outbox reports it, before its listeners."""
        entry, occurrence = outcome.entry, outcome.occurrence
        logger.info(
            "Scheduler: Sending due task %s (%s) for %s, %.3fs late%s",
            printable(entry.name),
            printable(entry.task),
            occurrence.isoformat(),
            (self.clock() - occurrence).total_seconds(),
            " (recovered from a previous leader)" if recovered else "",
        )

    def _report_failed(self, outcome: SendOutcome) -> None:
        """Log a failed send and tell listeners; called as the outbox reports it.

        Every failed occurrence gets its ERROR line; a line for the same error as the line
        before it goes without the traceback (a write's messages share one error: a dropped
        broker connection fails a whole write, and its traceback once per message would bury
        the log)."""
        entry, occurrence, task_id = outcome.entry, outcome.occurrence, outcome.task_id
        error = outcome.error
        if outcome.status is SendStatus.FAILED and error is not None:
            traced = error is not self._traced
            self._traced = error
            logger.error(
                "beatcore: sending %s of entry %r (task %s, id %s) failed: %s; "
                "retrying in %ss with the same task id%s",
                occurrence.isoformat(),
                entry.name,
                printable(entry.task),
                task_id,
                error,
                self.settings.dispatch_retry_delay,
                ""
                if traced
                else " (the error of the failed send logged before, with its traceback)",
                exc_info=error if traced else None,
            )
            self.listeners.dispatch_failed(entry, occurrence, task_id, error)

    def _ack(
        self,
        claim: Claim,
        overlap: OverlapPlan,
        outcomes: Sequence[SendOutcome],
        now: datetime,
        sent_at: Mapping[datetime, datetime],
    ) -> Ack:
        """Return the ack of one claimed entry after the outbox wrote what it could, with the
        tick's run records and, under an overlap policy, the entry's running fact."""
        entry, state, plan = claim.entry, claim.state, overlap.plan
        running: Running | None = None
        more: tuple[timing.Skipped, ...] = ()
        if self.settings.track_runs and entry.overlap != "allow":  # else: (None, ()) as well
            limit = self.limits.limit(entry)  # how long a run blocks (only under a policy)
            running, more = running_after_sends(entry, overlap, outcomes, sent_at, limit)
        if more:
            _log_skipped(entry, more)
            self.listeners.occurrences_skipped(entry, more)
            plan = attrs.evolve(plan, skipped=tuple(sorted((*plan.skipped, *more), key=_at)))
        new_state = state_after_outcomes(state, plan, outcomes)  # outcomes of this entry
        due = timing.ack_due_at(entry, new_state, outcomes, now, self.settings.dispatch_retry_delay)
        held = running if running is not None else overlap.running
        if held is not None and held.held is not None and held.blocks(now) and due is not None:
            due = min(due, held.until)  # a run that never reports its end stops blocking then
        if new_state.next_run_at is None and state.next_run_at is not None:
            logger.info("beatcore: entry %r has no occurrences left", entry.name)
        runs = tick_runs(claim, plan, outcomes, sent_at)
        return Ack(entry.name, state, new_state, due, runs, running)  # claimed, state, due_at


def _at(skipped: timing.Skipped) -> datetime:
    return skipped.occurrence


def _log_skipped(entry: Entry, skipped: Sequence[timing.Skipped]) -> None:
    """Log the occurrences of ``entry`` one tick skipped: one line, however many there are.

    After a long downtime a 1-second entry skips ten thousand occurrences in one tick; a line
    for each would bury everything else in the log.
    """
    if len(skipped) == 1 and not skipped[0].also:
        (only,) = skipped
        logger.warning(
            "beatcore: skipped %s of entry %r: %s",
            only.occurrence.isoformat(),
            entry.name,
            only.reason,
        )
        return
    reasons: Counter[str] = Counter()
    for one in skipped:
        reasons[one.reason] += 1 + one.also
    logger.warning(
        "beatcore: skipped %d occurrences of entry %r, the first %s, the last %s: %s",
        sum(reasons.values()),
        entry.name,
        skipped[0].occurrence.isoformat(),
        skipped[-1].occurrence.isoformat(),
        "; ".join(
            reason if len(reasons) == 1 else f"{count} {reason}"
            for reason, count in reasons.items()
        ),
    )
