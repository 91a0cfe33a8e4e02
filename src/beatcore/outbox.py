"""Publishing one tick's sends, buffered into few broker round trips where the broker allows.

The dispatcher hands every occurrence it decided to send to an :class:`Outbox` as a
:class:`Message`, and gets back one :class:`~beatcore.runs.SendOutcome` per message the moment
its fate is known. With a broker whose kombu transport can batch publishes (Redis, kombu >= 5.7)
the messages are buffered and written ``flush_every`` at a time in one round trip; with any
other broker each message is published at once, as Celery's own beat does. Either way an
occurrence counts as sent only once its message was written, so the dispatcher logs it, tells
listeners and acks it after that.

Written straight to a Redis broker (:class:`~beatcore.redis_broker.RedisBatch`), a write is
sent without waiting for its reply: the next messages are built and buffered meanwhile, and
the reply is read right before the next write is sent (or once the last one is sent). Its
messages are reported then, one write later: a message counts as sent only once the reply
of the write that carried it was read without an error for it. A message whose entry has an
earlier message in the write not read yet waits for that reply first, so an entry whose send
failed sends nothing after it, as without the overlap.

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
from beatcore.redis_broker import RedisBatch
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
        #: The batch when it sends each write before reading its reply (a Redis broker's).
        self._later: RedisBatch | None = None
        #: The write sent and not read yet: (its messages, those written at once, the index
        #: among the sent messages of its first), and the entries of its messages.
        self._unread: tuple[list[Message], set[int], int] | None = None
        self._unread_names: frozenset[str] | set[str] = frozenset()

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
        self._unread, self._unread_names = None, frozenset()  # left unread: dropped below
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
            if self._unread_names and name in self._unread_names:
                # an earlier message of its entry is in the write not read yet: if that one
                # failed, this one must not go (an entry's sends are a prefix of its runs)
                yield self._read(), self._settled(taken)
            if name in stopped:
                taken += 1
                continue
            alone = buffered and message.alone
            if alone and self._pending:
                yield self._flush(), self._settled(taken)
            taken += 1
            if not may_send():
                stopped.add(name)
                yield [message.outcome(_NOT_TRIED)], self._settled(taken)
                continue
            if buffered and self._batch is None:
                self._open_batch()
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
                yield self._flush(), self._settled(taken)
        if self._pending:
            yield self._flush(), self._settled(taken)
        if self._unread is not None:
            yield self._read(), taken
        self._end_batch(None)

    def _open_batch(self) -> None:
        """Open the publisher's batch for the next writes (the first message to buffer)."""
        batch = self._batch = self._publisher.batch(self._producer)
        batch.__enter__()
        self._later = batch if isinstance(batch, RedisBatch) else None

    def _settled(self, taken: int) -> int:
        """How many of the first ``taken`` messages are settled: all but those of the write
        not read yet and the buffered ones (which start at ``_unread[2]`` and
        ``_pending_from``)."""
        if self._unread is not None:
            return self._unread[2]
        return self._pending_from if self._pending else taken

    def _flush(self) -> list[SendOutcome]:
        """Write the buffered messages in one round trip; return the outcomes known now:
        those of the write before, whose reply is read first (see :meth:`_read`), and, for
        a batch that reads each reply at once (kombu's), of this write (sent).

        If the send window closed meanwhile the buffered messages are dropped unwritten (not
        tried: due again at once); if the write fails they are all failed (retried later
        with the same task ids: the broker may or may not have them).
        """
        outcomes = self._read() if self._unread is not None else []
        pending, self._pending = self._pending, []
        written_at_once, self._written_at_once = self._written_at_once, set()
        if not pending:
            return outcomes
        batch = self._batch
        if batch is not None:
            if not self._window.may_send():
                self._end_batch(_Discarded())
                for message in pending:
                    self._stopped.add(message.entry.name)
                return outcomes + [message.outcome(_NOT_TRIED) for message in pending]
            later = self._later
            try:
                if later is None:
                    errors = batch.flush()
                elif later.send():
                    self._unread = (pending, written_at_once, self._pending_from)
                    self._unread_names = {message.entry.name for message in pending}
                    return outcomes
                else:  # none held by the batch: each written by its publish
                    errors = []
            except Exception as exc:
                return outcomes + self._failed(pending, exc)
            if errors:  # a write that refused some (RedisBatch: an empty list if none)
                return outcomes + self._written(pending, errors, written_at_once)
        return outcomes + _sent(pending)

    def _read(self) -> list[SendOutcome]:
        """Read the reply of the write sent last (a Redis batch's: see
        :meth:`RedisBatch.read`); return the outcomes of its messages: sent, or refused
        (failed) one by one, or all failed when reading failed."""
        unread, self._unread, self._unread_names = self._unread, None, frozenset()
        if unread is None:
            return []
        pending, written_at_once, _ = unread
        assert self._later is not None  # only a Redis batch leaves a reply unread
        try:
            errors = self._later.read()
        except Exception as exc:
            return self._failed(pending, exc, end=False)
        if errors:
            return self._written(pending, errors, written_at_once)
        return _sent(pending)

    def _failed(
        self, pending: list[Message], exc: Exception, *, end: bool = True
    ) -> list[SendOutcome]:
        """Return the outcomes of a write that failed as a whole (all failed: the broker may
        or may not have them); ``end``: leave the batch (the next message opens another),
        else only the write's connection was dropped (the batch writes on a new one)."""
        if end:
            self._end_batch(exc)
        logger.error(
            "beatcore: writing a batch of %d messages to the broker failed: %s",
            len(pending),
            exc,
        )
        for message in pending:
            self._stopped.add(message.entry.name)
        return [message.outcome(_FAILED, exc) for message in pending]

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
        batch, self._batch, self._later = self._batch, None, None
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


def _sent(pending: list[Message]) -> list[SendOutcome]:
    """The outcomes of a write that carried all of ``pending`` (each sent)."""
    new = tuple.__new__  # SendOutcome's own __new__ is a Python call, per message
    return [
        new(SendOutcome, (message.entry, message.occurrence, message.task_id, _SENT, None))
        for message in pending
    ]
