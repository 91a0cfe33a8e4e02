"""A tick's messages written straight to a Redis broker, in one pipeline per write.

kombu's Redis transport stores a message as the JSON of its envelope (body, headers,
properties, delivery info) pushed with LPUSH onto the list of its queue and priority step.
Going through ``Producer.publish`` for each message costs several times that write; a
:class:`RedisBatch` builds the envelope of each :class:`~beatcore.task_message.TaskMessage`
once, with kombu's own pieces (the producer's delivery details and serializer, the channel's
``prepare_message``, body encoding, priority steps), and per message fills in what differs:
task id, delivery tag, entry and occurrence headers, ``expires``. A write is one LPUSH per
list (the values in send order, so the list ends as one LPUSH per message would leave it) and
the queue's PEXPIRE steps when it has ``x-expires``, in one pipeline.

Celery's ``before_task_publish`` fires for each message as it is buffered and
``after_task_publish`` for each one the write carried, both with the arguments Celery gives
them; when either has receivers the envelope is built from the dicts they saw (and may have
changed). Only kombu's plain Redis channel is written to (:func:`direct_channel`); any other
transport goes through ``Producer.publish``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery import signals
from kombu.utils.json import dumps as _kombu_dumps

from beatcore.task_message import PLACEHOLDER_ID, TaskMessage
from beatcore.timeutil import instant_text

#: Stand-ins for what differs per message while an envelope's JSON template is made.
_TAG, _ENTRY, _OCCURRENCE, _EXPIRES = (
    "00000000-beat-core-tag0-000000000000",
    "00000000-beat-core-entry-name-00000",
    "00000000-beat-core-occurrence-00000",
    "00000000-beat-core-expires-00000000",
)
#: The parameter of an envelope's filler (:func:`_filler`) each stand-in's value is passed as.
_PARAMETERS = {
    PLACEHOLDER_ID: "task_id",
    _TAG: "tag",
    _ENTRY: "entry",
    _OCCURRENCE: "occurrence",
    _EXPIRES: "expires",
}
#: Stand-ins whose values never need JSON escaping (a UUID, an ISO instant): their quotes stay
#: in the template and the value goes between them as it is.
_BARE = frozenset({_TAG, _OCCURRENCE})
#: ``Producer.publish``'s own parameters: Celery passes its properties among them.
_PUBLISH_PARAMETERS = frozenset({"priority", "expiration", "mandatory", "immediate"})
#: Channel methods whose kombu versions this module reproduces; overridden ones disable it.
_CHANNEL_METHODS = (
    "_put",
    "basic_publish",
    "prepare_message",
    "_inplace_augment_message",
    "_q_for_pri",
    "_get_message_priority",
)


def dumps(value: Any) -> str:
    """``value`` as JSON, by kombu's encoder (the one its Redis transport writes with)."""
    return str(_kombu_dumps(value))  # type: ignore[no-untyped-call]


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


#: Delivery tags made from one read of random bytes (one system call for that many).
TAGS_PER_READ = 256


class _Tags:
    """Random UUID4 strings, as kombu's delivery tags (``uuid4()``), made without the
    ``uuid`` module's object (a tenth of a message's cost otherwise), from random bytes
    read for :data:`TAGS_PER_READ` tags at a time, made all at once; one per batch (one
    thread). A caller pops :attr:`made` while it is not empty and calls :meth:`refill`
    when it is."""

    __slots__ = ("made",)

    def __init__(self) -> None:
        #: The tags made and not yet taken, the next one last.
        self.made: list[str] = []

    def next(self) -> str:
        """Return a new delivery tag."""
        if not self.made:
            self.refill()
        return self.made.pop()

    def refill(self) -> None:
        """Make the next :data:`TAGS_PER_READ` tags (called when :attr:`made` is empty)."""
        random = os.urandom(16 * TAGS_PER_READ).hex()
        made = [
            f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"
            for h in [random[at : at + 32] for at in range(0, len(random), 32)]
        ]
        made.reverse()  # taken from the end, in the order made
        self.made += made


def _quoted(text: str) -> str:
    """``text`` as a JSON string, quoted as kombu's encoder quotes it (ASCII only)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return dumps(text)


#: What fills an envelope's template: (task id, delivery tag, entry, occurrence, expires),
#: the task id, entry and expires quoted as JSON strings, the tag and occurrence bare.
Filler = Callable[[str, str, str, str, str], str]


def _filler(parts: list[str], slots: list[str]) -> Filler:
    """Return the function that joins ``parts`` with one message's values in the places of
    ``slots`` (one string build per message; made once per envelope). The parts are written
    into its source with ``repr``, a Python literal whatever the text."""
    pieces = [repr(parts[0])]
    for slot, part in zip(slots, parts[1:], strict=True):
        pieces += [_PARAMETERS[slot], repr(part)]
    source = (
        "def fill(task_id, tag, entry, occurrence, expires):\n"
        f"    return ''.join(({', '.join(pieces)},))\n"
    )
    scope: dict[str, Any] = {}
    exec(compile(source, "<beatcore.redis_broker envelope>", "exec"), scope)
    fill: Filler = scope["fill"]
    return fill


class _Envelope:
    """One message's envelope for one channel: its queue, and from its second send on the
    list it goes to and the filler of its JSON template (``fill`` None: made from dicts each
    time). A message sent once (entries with args of their own) never pays for the
    template."""

    __slots__ = ("fill", "key", "queue", "sends")

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.key = ""
        self.fill: Filler | None = None
        self.sends = 0


class RedisBatch:
    """The messages of one tick's write to ``channel`` (from :func:`direct_channel`),
    published by ``producer``; used like kombu's ``Producer.batch()``."""

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
        self._tags = _Tags()
        # kombu makes a redis client (and its table of reply callbacks) per acquire: one is
        # made for the batch's first write and handed back to it for the others
        self._client: Any = None

    def _reset(self) -> None:
        """Forget what is buffered (after a write, or when the batch is left)."""
        #: The buffered messages' JSON by the list each goes to, in send order.
        self._lists: dict[str, list[str]] = {}
        #: The queue of each of those lists.
        self._queues: dict[str, str] = {}
        #: The list of each buffered message, in send order.
        self._keys: list[str] = []
        #: (index among the buffered, message, headers) of those after_task_publish is sent
        #: for with headers a receiver saw.
        self._signalled: list[tuple[int, TaskMessage, dict[str, Any]]] = []

    def __enter__(self) -> RedisBatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._reset()

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
        known = message.broker_envelope
        if known is not None and known[0] is self._channel:
            envelope = known[1]
        else:
            envelope = self._envelope(message)
            message.broker_envelope = (self._channel, envelope)
        if envelope is None:
            return False
        envelope.sends += 1
        if envelope.sends == 2:
            self._split(message, envelope)
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
        if fill is None or before.receivers or after.receivers:
            headers, properties = message.stamp(
                task_id, entry_name, occurrence_text, self._entry_header, self._occurrence_header
            )
            message.before_publish(headers, properties)
            kombu_message = self._kombu_message(message, headers, properties, tags.pop())
            key = self._key(envelope.queue, kombu_message)
            text = dumps(kombu_message)  # before anything is recorded: it may raise
            self._signalled.append((len(self._keys), message, headers))
            self._buffer(key, envelope.queue, text)
            return True
        expires = _quoted(message.expires_at(message.app.now())) if message.expires_relative else ""
        # _quoted's test, in line: this runs for every message
        tid = task_id
        if tid.isascii() and tid.isprintable() and '"' not in tid and "\\" not in tid:
            quoted_id = f'"{task_id}"'
        else:
            quoted_id = dumps(task_id)
        name = entry_name
        if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name:
            quoted_name = f'"{name}"'
        else:
            quoted_name = dumps(name)
        text = fill(quoted_id, tags.pop(), quoted_name, occurrence_text, expires)
        key = envelope.key
        self._keys.append(key)
        texts = self._lists.get(key)
        if texts is None:
            self._lists[key] = [text]
            self._queues[key] = envelope.queue
        else:
            texts.append(text)
        return True

    def _buffer(self, key: str, queue: str, text: str) -> None:
        """Buffer one message's JSON ``text`` for the list ``key`` of ``queue``."""
        self._keys.append(key)
        self._lists.setdefault(key, []).append(text)
        self._queues[key] = queue

    def flush(self) -> list[BaseException | None]:
        """Write what is buffered in one pipeline; return each message's error (None: the
        write carried it), in order, or an empty list when the write carried them all.
        ``after_task_publish`` fires for each one written.

        Raises when the pipeline itself failed (all of it may or may not have been written).
        """
        lists, queues, keys, signalled = self._lists, self._queues, self._keys, self._signalled
        self._reset()
        if not keys:
            return []
        channel = self._channel
        expiring = channel._expires or {}
        with (
            channel.conn_or_acquire(self._client) as client,
            client.pipeline(transaction=False) as pipe,
        ):
            self._client = client
            # per list: its LPUSH, then (x-expires) a PEXPIRE of each priority step, as
            # kombu's _put sends after each message
            for key, texts in lists.items():
                pipe.lpush(key, *texts)
                queue = queues[key]
                if queue in expiring:
                    for step in channel.priority_steps:
                        pipe.pexpire(channel._q_for_pri(queue, step), expiring[queue])
            replies = iter(pipe.execute(raise_on_error=False))
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

    def _envelope(self, message: TaskMessage) -> _Envelope | None:
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
        return _Envelope(str(message.routing_key))

    def _split(self, message: TaskMessage, envelope: _Envelope) -> None:
        """Make ``envelope``'s JSON with stand-ins where messages differ and its filler from
        the parts between them; none (dicts each time) if a stand-in is not found exactly
        where expected."""
        headers, properties = message.stamp(
            PLACEHOLDER_ID, _ENTRY, _OCCURRENCE, self._entry_header, self._occurrence_header
        )
        if message.expires_relative:
            headers["expires"] = _EXPIRES
        kombu_message = self._kombu_message(message, headers, properties, _TAG)
        text = dumps(kombu_message)
        stand_ins = [PLACEHOLDER_ID, _TAG, _ENTRY, _OCCURRENCE, _EXPIRES]
        expected = {PLACEHOLDER_ID: 3, _TAG: 1, _ENTRY: 1, _OCCURRENCE: 1}
        if message.expires_relative:
            expected[_EXPIRES] = 1
        if any(
            text.count(f'"{s}"') != expected.get(s, 0) or text.count(s) != expected.get(s, 0)
            for s in stand_ins
        ):
            return
        parts = [text]
        slots: list[str] = []
        while True:
            last = parts[-1]
            found = [(last.find(f'"{s}"'), s) for s in stand_ins if f'"{s}"' in last]
            if not found:
                break
            at, stand_in = min(found)
            end = at + len(stand_in) + 2
            if stand_in in _BARE:  # its quotes stay in the parts
                at, end = at + 1, end - 1
            parts[-1:] = [last[:at], last[end:]]
            slots.append(stand_in)
        envelope.key = self._key(envelope.queue, kombu_message)
        envelope.fill = _filler(parts, slots)

    def _key(self, queue: str, kombu_message: dict[str, Any]) -> str:
        """The list a message goes to: its queue's, at the message's priority step."""
        channel = self._channel
        return str(channel._q_for_pri(queue, channel._get_message_priority(kombu_message)))

    def _kombu_message(
        self, message: TaskMessage, headers: dict[str, Any], properties: dict[str, Any], tag: str
    ) -> dict[str, Any]:
        """The envelope ``Producer.publish`` and the channel's ``basic_publish`` make of one
        message (kombu's own steps, the write left out)."""
        producer, channel, publish = self._producer, self._channel, message.publish
        properties = dict(properties)
        named = {key: properties.pop(key) for key in _PUBLISH_PARAMETERS & properties.keys()}
        exchange, properties["delivery_mode"] = producer._delivery_details(
            publish["exchange"] or producer.exchange, publish["delivery_mode"]
        )
        if named.get("expiration") is not None:
            properties["expiration"] = str(int(named["expiration"] * 1000))
        body, content_type, content_encoding = producer._prepare(
            message.body, publish["serializer"], None, None, publish["compression"], headers
        )
        kombu_message: dict[str, Any] = channel.prepare_message(
            body, named.get("priority") or 0, content_type, content_encoding, headers, properties
        )
        channel._inplace_augment_message(kombu_message, exchange, publish["routing_key"])
        kombu_message["properties"]["delivery_tag"] = tag
        return kombu_message
