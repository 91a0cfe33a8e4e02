"""Publishing one tick's sends, buffered into few broker round trips where the broker allows.

The scheduler hands every occurrence it decided to send to an :class:`Outbox`. With a broker
whose kombu transport can batch publishes (Redis, kombu >= 5.7) the messages are buffered and
written ``flush_every`` at a time in one round trip; with any other broker each message is
published at once, as Celery's own beat does. Either way an occurrence counts as sent only once
its message was written, so the scheduler logs it, tells listeners and acks it after that.

Buffering moves the moment a message leaves the process from the publish call to the flush,
so the send window (:class:`~beatcore.send_window.SendWindow`) is checked again right before
each flush: a leader paused between buffering and flushing drops what it buffered, and those
occurrences stay due with their task ids for whichever process leads next.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple

import attrs
from celery.utils.log import get_logger

from beatcore.send_window import SendWindow
from beatcore.store import Claim
from beatcore.timing import RunPlan

logger = get_logger("beatcore.scheduler")

#: How the error of a failed send starts in the entry's ``last_error``.
SEND_FAILED = "send failed: "


@attrs.define(eq=False)
class EntryDispatch:
    """What became of one claimed entry's occurrences during a tick.

    ``sent`` and ``task_ids`` list the occurrences whose messages were written, in order;
    ``unsent`` is the first planned occurrence that was not, with the error (None when it was
    not tried because the send window closed). Once ``unsent`` is set nothing more of the entry
    is sent in this tick, so the occurrences it sends are always a prefix of its plan.
    """

    claim: Claim
    plan: RunPlan
    sent: list[datetime] = attrs.field(factory=list)
    task_ids: list[str] = attrs.field(factory=list)
    unsent: tuple[datetime, str | None] | None = None

    @property
    def failed_last_time(self) -> bool:
        """True when the entry's previous send failed (its state still says so)."""
        error = self.claim.state.last_error
        return error is not None and error.startswith(SEND_FAILED)

    def mark_unsent(self, occurrence: datetime, error: str | None) -> bool:
        """Record that ``occurrence`` was not sent; return True if it is the entry's first."""
        if self.unsent is None:
            self.unsent = (occurrence, error)
            return True
        if occurrence < self.unsent[0]:
            self.unsent = (occurrence, error)
        return False


class _Pending(NamedTuple):
    dispatch: EntryDispatch
    occurrence: datetime
    task_id: str


class _Discarded(Exception):
    """Ends a kombu publish batch without writing what it buffered."""


#: What the outbox calls: ``publish(dispatch, task_id)`` sends (or buffers) one message;
#: ``on_sent(dispatch, occurrence, task_id)`` after its message was written;
#: ``on_failed(dispatch, occurrence, task_id, error)`` when it could not be.
Publish = Callable[[EntryDispatch, str], Any]
OnSent = Callable[[EntryDispatch, datetime, str], None]
OnFailed = Callable[[EntryDispatch, datetime, str, BaseException], None]


class Outbox:
    """The sends of one tick, through ``producer``; use it as a context manager.

    :param producer: the scheduler's kombu producer (one connection for the whole tick).
    :param window: the tick's send window; nothing is written once it has closed.
    :param flush_every: most messages buffered before one write; 1 disables buffering.
    """

    def __init__(
        self,
        producer: Any,
        window: SendWindow,
        *,
        flush_every: int,
        publish: Publish,
        on_sent: OnSent,
        on_failed: OnFailed,
    ) -> None:
        self._producer = producer
        self._window = window
        self._publish = publish
        self._on_sent = on_sent
        self._on_failed = on_failed
        self._buffered = flush_every > 1 and _can_batch(producer)
        self._flush_every = flush_every if self._buffered else 1
        self._batch: Any = None
        self._pending: list[_Pending] = []

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
            self._end_batch(None)
        else:
            # The tick failed before its ack: what is buffered is dropped, and the claimed
            # occurrences are sent again (same task ids) once the claim is reclaimed.
            self._end_batch(exc)

    def add(self, dispatch: EntryDispatch, occurrence: datetime, task_id: str) -> None:
        """Send ``occurrence`` of the claimed entry (buffered, or at once).

        Called by the scheduler for each planned occurrence, in order. Does nothing once an
        earlier occurrence of the same entry was not sent. An entry whose previous send failed
        is written in a batch of its own: a message the broker refuses (a queue key of the
        wrong type, say) must not fail, and so duplicate, the messages batched with it on
        every retry.
        """
        if dispatch.unsent is not None:
            return
        alone = self._buffered and dispatch.failed_last_time
        if alone:
            self.flush()
        if not self._window.may_send():
            self._left_unsent(dispatch, occurrence)
            return
        if self._buffered and self._batch is None:
            self._batch = self._producer.batch(max_size=sys.maxsize)
            self._batch.__enter__()
        try:
            self._publish(dispatch, task_id)
        except Exception as exc:
            dispatch.mark_unsent(occurrence, f"{SEND_FAILED}{exc}")
            self._on_failed(dispatch, occurrence, task_id, exc)
            return
        self._pending.append(_Pending(dispatch, occurrence, task_id))
        if alone or len(self._pending) >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the buffered messages in one round trip, then report each as sent.

        If the send window closed meanwhile they are dropped unwritten (due again at once);
        if the write fails they are all reported failed (retried later with the same task ids:
        the broker may or may not have them).
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        if self._batch is not None:
            if not self._window.may_send():
                self._end_batch(_Discarded())
                for item in pending:
                    self._left_unsent(item.dispatch, item.occurrence)
                return
            try:
                self._batch.flush()
            except Exception as exc:
                self._end_batch(exc)
                logger.error(
                    "beatcore: writing a batch of %d messages to the broker failed: %s",
                    len(pending),
                    exc,
                )
                for item in pending:
                    item.dispatch.mark_unsent(item.occurrence, f"{SEND_FAILED}{exc}")
                    self._on_failed(item.dispatch, item.occurrence, item.task_id, exc)
                return
        for item in pending:
            item.dispatch.sent.append(item.occurrence)
            item.dispatch.task_ids.append(item.task_id)
            self._on_sent(item.dispatch, item.occurrence, item.task_id)

    def _left_unsent(self, dispatch: EntryDispatch, occurrence: datetime) -> None:
        if dispatch.mark_unsent(occurrence, None):
            self._window.left_unsent += 1

    def _end_batch(self, exc: BaseException | None) -> None:
        """Leave the kombu batch: a clean exit writes nothing more (all was flushed); an exit
        with ``exc`` drops what is still buffered. The next :meth:`add` opens a new one."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        try:
            if exc is None:
                batch.__exit__(None, None, None)
            else:
                batch.__exit__(type(exc), exc, exc.__traceback__)
        except Exception as cleanup:
            # Everything reported sent was written before this point; failing the tick here
            # would leave it unacked and send it all again.
            logger.warning("beatcore: closing the broker publish batch failed: %s", cleanup)


def _can_batch(producer: Any) -> bool:
    """True when ``producer``'s transport buffers publishes inside ``Producer.batch()``.

    kombu >= 5.7 has it, for Redis only, and not when the connection retries commands on its
    own (a replayed write could then duplicate messages).
    """
    if not hasattr(producer, "batch"):
        return False
    try:
        return bool(producer.supports_batch_publish)
    except Exception:  # an unreachable broker: publish one by one, failing as Celery does
        return False
