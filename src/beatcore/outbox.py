"""Publishing one tick's sends, buffered into few broker round trips where the broker allows.

The dispatcher hands every occurrence it decided to send to an :class:`Outbox` as a
:class:`Message`, and gets back one :class:`~beatcore.runs.SendOutcome` per message the moment
its fate is known. With a broker whose kombu transport can batch publishes (Redis, kombu >= 5.7)
the messages are buffered and written ``flush_every`` at a time in one round trip; with any
other broker each message is published at once, as Celery's own beat does. Either way an
occurrence counts as sent only once its message was written, so the dispatcher logs it, tells
listeners and acks it after that.

Buffering moves the moment a message leaves the process from the publish call to the flush,
so the send window (:class:`~beatcore.send_window.SendWindow`) is checked again right before
each flush: a leader paused between buffering and flushing drops what it buffered, and those
occurrences stay due with their task ids for whichever process leads next.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple

from celery.utils.log import get_logger

from beatcore.entry import Entry
from beatcore.publisher import Publisher
from beatcore.runs import SendOutcome, SendStatus
from beatcore.send_window import SendWindow

logger = get_logger("beatcore.scheduler")

_SENT, _FAILED, _NOT_TRIED = SendStatus.SENT, SendStatus.FAILED, SendStatus.NOT_TRIED


class Message(NamedTuple):
    """One occurrence of ``entry`` to send, as ``task_id``.

    ``alone``: the entry's previous send failed, so its message is written in a write of its
    own (a message the broker refuses, such as one for a queue key of the wrong type, must not
    fail, and so duplicate, the messages batched with it on every retry).
    """

    entry: Entry
    occurrence: datetime
    task_id: str
    alone: bool = False

    def outcome(self, status: SendStatus, error: BaseException | None = None) -> SendOutcome:
        """Return this message's outcome."""
        return SendOutcome(self.entry, self.occurrence, self.task_id, status, error)


class _Discarded(Exception):
    """Ends a kombu publish batch without writing what it buffered."""


class Outbox:
    """The sends of one tick, through ``producer``; use it as a context manager.

    :param publisher: publishes one message (through ``producer``).
    :param producer: the producer ``publisher.connect()`` returned for this tick.
    :param window: the tick's send window; nothing is written once it has closed.
    :param flush_every: most messages buffered before one write; 1 disables buffering.
    """

    def __init__(
        self, publisher: Publisher, producer: Any, window: SendWindow, *, flush_every: int
    ) -> None:
        self._publisher = publisher
        self._producer = producer
        self._window = window
        self._buffered = flush_every > 1 and publisher.can_batch(producer)
        self._flush_every = flush_every if self._buffered else 1
        self._batch: Any = None
        self._pending: list[Message] = []
        self._pending_from = 0  # the index among the sent messages of the first buffered one
        #: Indices among ``_pending`` of the messages the publish wrote itself while the batch
        #: was open (an exchange's, Celery's path): the batch's write reports none of them.
        self._written_at_once: set[int] = set()
        #: Entries of which an occurrence was not sent: nothing more of them goes this tick.
        self._stopped: set[str] = set()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A batch is still open only when the sends were abandoned (the tick failed before its
        # ack): what it buffered is dropped, and the claimed occurrences are sent again (same
        # task ids) once the claim is reclaimed.
        self._pending = []
        self._written_at_once = set()
        self._end_batch(exc if exc is not None else _Discarded())

    def send(self, messages: Iterable[Message]) -> Iterator[SendOutcome]:
        """Send ``messages`` in order; yield the outcome of each as soon as it is known.

        A message is reported sent right after the write that carried it, so the caller's
        logging and listeners run between writes, as they would without buffering. Once an
        occurrence of an entry was not sent, its entry's later messages are dropped without an
        outcome: the occurrences an entry sends are always a prefix of what it was given.
        """
        for outcomes, _ in self.send_settled(messages):
            yield from outcomes

    def send_settled(self, messages: Iterable[Message]) -> Iterator[tuple[list[SendOutcome], int]]:
        """Send ``messages`` as :meth:`send` does; yield the outcomes known at each step with
        how many of ``messages`` (a prefix) are settled by then: each reported, or dropped
        (messages dropped after the last step are settled once the iteration ends).

        A caller that acks an entry once all its messages are settled acks it while the
        messages after it are still being written (:meth:`ClaimDispatcher.dispatch_stream`).
        """
        taken = 0  # messages of ``messages`` looked at
        # looked up once: this loop runs for every message
        stopped, buffered, may_send = self._stopped, self._buffered, self._window.may_send
        publish = self._publisher.publish
        for message in messages:
            entry = message.entry
            name = entry.name
            if name in stopped:
                taken += 1
                continue
            alone = buffered and message.alone
            if alone and self._pending:
                yield self._flush(), taken
            taken += 1
            if not may_send():
                stopped.add(name)
                yield [message.outcome(_NOT_TRIED)], self._settled(taken)
                continue
            if buffered and self._batch is None:
                self._batch = self._publisher.batch(self._producer)
                self._batch.__enter__()
            try:
                held = publish(entry, message.task_id, message.occurrence)
            except Exception as exc:
                stopped.add(name)
                yield [message.outcome(_FAILED, exc)], self._settled(taken)
                continue
            if not buffered:  # written by the publish itself
                sent = SendOutcome(message.entry, message.occurrence, message.task_id, _SENT)
                yield [sent], taken
                continue
            if not self._pending:
                self._pending_from = taken - 1
            if not held:
                self._written_at_once.add(len(self._pending))
            self._pending.append(message)
            if alone or len(self._pending) >= self._flush_every:
                yield self._flush(), taken
        if self._pending:
            yield self._flush(), taken
        self._end_batch(None)

    def _settled(self, taken: int) -> int:
        """How many of the first ``taken`` messages are settled: all but the buffered ones
        (which start at ``_pending_from``)."""
        return self._pending_from if self._pending else taken

    def _flush(self) -> list[SendOutcome]:
        """Write the buffered messages in one round trip; return each one's outcome (sent).

        If the send window closed meanwhile they are dropped unwritten (not tried: due again at
        once); if the write fails they are all failed (retried later with the same task ids:
        the broker may or may not have them).
        """
        pending, self._pending = self._pending, []
        written_at_once, self._written_at_once = self._written_at_once, set()
        if not pending:
            return []
        if self._batch is not None:
            if not self._window.may_send():
                self._end_batch(_Discarded())
                for message in pending:
                    self._stopped.add(message.entry.name)
                return [message.outcome(_NOT_TRIED) for message in pending]
            try:
                errors = self._batch.flush()
            except Exception as exc:
                self._end_batch(exc)
                logger.error(
                    "beatcore: writing a batch of %d messages to the broker failed: %s",
                    len(pending),
                    exc,
                )
                for message in pending:
                    self._stopped.add(message.entry.name)
                return [message.outcome(_FAILED, exc) for message in pending]
            if errors:  # a write that refused some (RedisBatch: an empty list if none)
                return self._written(pending, errors, written_at_once)
        new = tuple.__new__  # SendOutcome's own __new__ is a Python call, per message
        return [
            new(SendOutcome, (message.entry, message.occurrence, message.task_id, _SENT, None))
            for message in pending
        ]

    def _written(
        self,
        pending: list[Message],
        errors: list[BaseException | None],
        written_at_once: set[int],
    ) -> list[SendOutcome]:
        """Return the outcome of each message of a write that refused some (a queue key of
        the wrong type, say): those failed, the rest were written.

        ``errors`` holds one error (or None) per message the batch held, in order: the
        messages at ``written_at_once`` in ``pending`` were written by their publish, so
        the write has none for them (they are sent).
        """
        refused = [error for error in errors if error is not None]
        if refused:
            logger.error(
                "beatcore: writing a batch of %d messages to the broker: %d refused: %s",
                len(errors),
                len(refused),
                refused[0],
            )
        held = iter(errors)
        outcomes = []
        for at, message in enumerate(pending):
            error = None if at in written_at_once else next(held)
            if error is None:
                outcomes.append(
                    SendOutcome(message.entry, message.occurrence, message.task_id, _SENT)
                )
            else:
                self._stopped.add(message.entry.name)
                outcomes.append(message.outcome(_FAILED, error))
        return outcomes

    def _end_batch(self, exc: BaseException | None) -> None:
        """Leave the kombu batch: a clean exit writes nothing more (all was flushed); an exit
        with ``exc`` drops what is still buffered. The next message opens a new one."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        self._publisher.end_batch()
        try:
            if exc is None:
                batch.__exit__(None, None, None)
            else:
                batch.__exit__(type(exc), exc, exc.__traceback__)
        except Exception as cleanup:
            # Everything reported sent was written before this point; failing the tick here
            # would leave it unacked and send it all again.
            logger.warning("beatcore: closing the broker publish batch failed: %s", cleanup)
