"""A tick's messages written straight to a Redis broker, in one pipeline per write.

kombu's Redis transport stores a message as the JSON of its envelope (body, headers,
properties, delivery info) pushed with LPUSH onto the list of its queue and priority step.
Going through ``Producer.publish`` for each message costs several times that write; a
:class:`RedisBatch` builds the envelope of each :class:`~beatcore.task_message.TaskMessage`
once, with kombu's own pieces (the producer's delivery details and serializer, the channel's
``prepare_message``, body encoding, priority steps: :mod:`beatcore.kombu_envelope`), and per
message fills in what differs: task id, delivery tag, entry and occurrence headers,
``expires``, and for messages that differ from one built message by their arguments alone
(one schedule per customer) the body, ``argsrepr`` and ``kwargsrepr`` too. A write is one LPUSH per
list (the values in send order, so the list ends as one LPUSH per message would leave it) and
the queue's PEXPIRE steps when it has ``x-expires``, in one pipeline.

A write is sent without waiting for its reply (:mod:`beatcore.redis_write`), which is read
before the next one is sent: the server runs it while the next messages are built.
Celery's ``before_task_publish`` fires for each message as it is buffered and
``after_task_publish`` for each one the write carried once its reply is read, both with the
arguments Celery gives them; when either has receivers the envelope is built from the dicts
they saw (and may have changed). Only kombu's plain Redis channel is written to
(:func:`direct_channel`); any other transport goes through ``Producer.publish``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from celery import signals

from beatcore.envelope_text import DeliveryTags, dumps, quoted
from beatcore.kombu_envelope import (
    Envelope,
    arguments_text,
    kombu_message,
    list_key,
    make_template,
)
from beatcore.redis_write import WriteConnection
from beatcore.task_message import TaskMessage
from beatcore.timeutil import instant_text

#: Channel methods whose kombu versions this module reproduces; overridden ones disable it.
_CHANNEL_METHODS = (
    "_put",
    "basic_publish",
    "prepare_message",
    "_inplace_augment_message",
    "_q_for_pri",
    "_get_message_priority",
)


def direct_channel(producer: Any) -> Any | None:
    """Return ``producer``'s kombu Redis channel when a :class:`RedisBatch` may write to it.

    Not when the channel is of another transport or overrides how kombu writes, nor when
    the connection replays commands on its own (a replayed pipeline could duplicate
    messages; kombu refuses to batch then too).
    """
    try:
        channel = producer.channel
    except Exception:  # an unreachable broker: the plain path fails as Celery does
        return None
    # Looked up, not imported: kombu's Redis transport needs the redis extra, and a channel
    # can only be one of its channels once kombu itself has imported it.
    kombu_redis = sys.modules.get("kombu.transport.redis")
    if kombu_redis is None or not isinstance(channel, kombu_redis.Channel):
        return None
    kind = type(channel)
    if any(getattr(kind, m) is not getattr(kombu_redis.Channel, m) for m in _CHANNEL_METHODS):
        return None
    try:
        return channel if bool(channel.supports_batch_publish) else None
    except Exception:
        return None


#: (index among a write's messages, message, headers) of one after_task_publish is sent for
#: with headers a receiver saw.
_Signalled = list[tuple[int, TaskMessage, dict[str, Any]]]
#: A write sent: its messages' JSON by list, each list's queue, each message's list, and
#: the messages signalled with their headers.
_Write = tuple[dict[str, list[str]], dict[str, str], list[str], _Signalled]


class RedisBatch:
    """The messages of one tick's writes to ``channel`` (from :func:`direct_channel`),
    published by ``producer``; used like kombu's ``Producer.batch()``, but each write is
    sent (:meth:`send`) and its reply read (:meth:`read`) apart."""

    def __init__(
        self, producer: Any, channel: Any, header_names: tuple[str, str], declared: set[Any]
    ) -> None:
        """``declared``: the queues already declared on ``channel`` (kept by the caller from
        one batch to the next; this batch adds to it)."""
        self._producer = producer
        self._channel = channel
        self._declared = declared
        self._entry_header, self._occurrence_header = header_names
        self._reset()
        self._backend: Any = None
        self._tags = DeliveryTags()
        #: The connection every write of the batch goes out on (taken at the first).
        self._writes = WriteConnection(channel)
        #: The write sent and not read yet: its lists, their queues, its messages' lists and
        #: those with headers a receiver saw (see :meth:`_reset`).
        self._sent: _Write | None = None

    def _reset(self) -> None:
        """Forget what is buffered (after a write, or when the batch is left)."""
        #: The buffered messages' JSON by the list each goes to, in send order.
        self._lists: dict[str, list[str]] = {}
        #: The queue of each of those lists.
        self._queues: dict[str, str] = {}
        #: The list of each buffered message, in send order.
        self._keys: list[str] = []
        #: Those after_task_publish is sent for with headers a receiver saw.
        self._signalled: _Signalled = []

    def __enter__(self) -> RedisBatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leave the batch: what is buffered is dropped, a reply left unread with its
        connection (disconnected), and the connection goes back to the channel's pool."""
        self._reset()
        self._sent = None
        self._writes.release()

    def add(
        self, message: TaskMessage, task_id: str, entry_name: str, occurrence: datetime
    ) -> bool:
        """Buffer one occurrence of ``message`` as ``task_id``; ``before_task_publish``
        fires. Returns False, having done nothing, for a message that goes through an
        exchange rather than to a queue by name: ``Producer.publish`` sends those.

        Raises what building the envelope raises (a body the serializer refuses, say):
        nothing is buffered then.
        """
        if message.exchange != "":
            return False
        envelope, by_arguments = self._envelope_of(message)
        if envelope is None:
            return False
        occurrence_text = instant_text(occurrence)
        if message.result_expected:
            if self._backend is None:
                self._backend = message.app.backend
            self._backend.on_task_call(self._producer, task_id)
        tags = self._tags.made
        if not tags:
            self._tags.refill()
        fill = envelope.fill
        before, after = signals.before_task_publish, signals.after_task_publish
        if fill is not None and not (before.receivers or after.receivers):
            expires = (
                quoted(message.expires_at(message.app.now())) if message.expires_relative else ""
            )
            stamp = (quoted(task_id), tags.pop(), quoted(entry_name), occurrence_text, expires)
            if not by_arguments:
                text: str | None = fill(*stamp, "", "", "")
            else:
                text = arguments_text(
                    self._producer, self._channel, message, fill, envelope.content, stamp
                )
            if text is not None:
                key = envelope.key
                self._keys.append(key)
                texts = self._lists.get(key)
                if texts is None:
                    self._lists[key] = [text]
                    self._queues[key] = envelope.queue
                else:
                    texts.append(text)
                return True
            tags.append(stamp[1])
        headers, properties = message.stamp(
            task_id, entry_name, occurrence_text, self._entry_header, self._occurrence_header
        )
        message.before_publish(headers, properties)
        made = kombu_message(
            self._producer, self._channel, message, headers, properties, tags.pop()
        )
        key = list_key(self._channel, envelope.queue, made)
        text = dumps(made)  # before anything is recorded: it may raise
        self._signalled.append((len(self._keys), message, headers))
        self._buffer(key, envelope.queue, text)
        return True

    def _envelope_of(self, message: TaskMessage) -> tuple[Envelope | None, bool]:
        """Return the envelope ``message`` is written from on this channel (None: kombu
        would publish it through an exchange), counting this send, and whether it is the
        arguments envelope of the message ``message`` was made from (one schedule per
        customer: each message sent once, their template made from the second on)."""
        base = message.base
        by_arguments = base is not None and base.publish["compression"] is None
        holder = base if by_arguments and base is not None else message
        known = holder.arguments_envelope if by_arguments else holder.broker_envelope
        if known is not None and known[0] is self._channel:
            envelope = known[1]
        else:
            envelope = self._envelope(holder)
            if by_arguments:
                holder.arguments_envelope = (self._channel, envelope)
            else:
                holder.broker_envelope = (self._channel, envelope)
        if envelope is None:
            return None, False
        envelope.sends += 1
        if envelope.sends == 2:
            names = (self._entry_header, self._occurrence_header)
            make_template(
                self._producer, self._channel, holder, names, envelope, arguments=by_arguments
            )
        return envelope, by_arguments

    def _buffer(self, key: str, queue: str, text: str) -> None:
        """Buffer one message's JSON ``text`` for the list ``key`` of ``queue``."""
        self._keys.append(key)
        self._lists.setdefault(key, []).append(text)
        self._queues[key] = queue

    def send(self) -> bool:
        """Send what is buffered as one write (one pipeline) without waiting for its reply:
        the caller reads it with :meth:`read` before it calls this again, and before the
        batch ends (left unread, it is dropped with its connection). Returns False when
        nothing was buffered (nothing sent).

        Raises when the write failed (some of it may have been written): nothing is left
        to read then.
        """
        if not self._keys:
            return False
        lists, queues = self._lists, self._queues
        channel = self._channel
        expiring = channel._expires or {}
        prefix = channel.global_keyprefix  # kombu's key prefix (its client's, for each key)
        # per list: its LPUSH, then (x-expires) a PEXPIRE of each priority step, as kombu's
        # _put sends after each message
        commands: list[tuple[Any, ...]] = []
        for key, texts in lists.items():
            commands.append(("LPUSH", prefix + key, *texts))
            queue = queues[key]
            if queue in expiring:
                commands += [
                    ("PEXPIRE", prefix + channel._q_for_pri(queue, step), expiring[queue])
                    for step in channel.priority_steps
                ]
        sent = (lists, queues, self._keys, self._signalled)
        self._reset()
        self._writes.send(commands)
        self._sent = sent
        return True

    def read(self) -> list[BaseException | None]:
        """Read the reply of the write :meth:`send` sent (waiting for it if need be); return
        each of its messages' error (None: the write carried it), in order, or an empty list
        when the write carried them all (or nothing is unread). ``after_task_publish`` fires
        for each one written.

        Raises when reading failed (all of it may or may not have been written).
        """
        sent, self._sent = self._sent, None
        if sent is None:
            return []
        lists, queues, keys, signalled = sent
        replies = iter(self._writes.read())
        channel = self._channel
        expiring = channel._expires or {}
        failed: dict[str, BaseException] = {}
        for key in lists:
            reply = next(replies)
            if isinstance(reply, BaseException):
                failed[key] = reply
            if queues[key] in expiring:
                for _ in channel.priority_steps:
                    next(replies)
        for at, message, headers in signalled:
            if keys[at] not in failed:
                message.after_publish(headers)
        return [failed.get(key) for key in keys] if failed else []

    def _envelope(self, message: TaskMessage) -> Envelope | None:
        """Start ``message``'s envelope for this channel (None: kombu would publish it
        through an exchange). Declares its queue first, once per channel, as
        ``Producer.publish`` does (bindings, x-expires)."""
        producer, publish = self._producer, message.publish
        if producer._delivery_details(publish["exchange"] or producer.exchange)[0]:
            return None
        for entity in message.declare or ():
            if entity not in self._declared:
                producer.maybe_declare(entity, retry=publish["retry"], **message.retry_policy)
                self._declared.add(entity)
        return Envelope(str(message.routing_key))
