"""A message's kombu Redis envelope on one channel, and its JSON template.

What :class:`beatcore.redis_broker.RedisBatch` writes for a
:class:`~beatcore.task_message.TaskMessage`: the dict ``Producer.publish`` and the channel's
``basic_publish`` make (:func:`kombu_message`: kombu's own steps, the write left out), the
list it goes to (:func:`list_key`), and, once a message is sent again, that dict's JSON with
stand-ins where its sends differ, turned into a filler (:func:`make_template`).

Messages that differ from one built message by their arguments alone (one schedule per
customer with the customer in ``args``: each is sent once) share one template of that
message, with the body, ``argsrepr`` and ``kwargsrepr`` stood in too; :func:`arguments_text`
fills in each one's body as kombu serializes and encodes it.
"""

from __future__ import annotations

from typing import Any

from beatcore.envelope_text import (
    ARGSREPR,
    BARE,
    BODY,
    ENTRY,
    EXPIRES,
    KWARGSREPR,
    OCCURRENCE,
    TAG,
    Filler,
    dumps,
    filler,
    quoted,
)
from beatcore.task_message import PLACEHOLDER_ID, TaskMessage

#: ``Producer.publish``'s own parameters: Celery passes its properties among them.
_PUBLISH_PARAMETERS = frozenset({"priority", "expiration", "mandatory", "immediate"})


class Envelope:
    """One message's envelope on one channel (or, for messages that differ by their
    arguments, their built message's): its queue, and from its second send on the list it
    goes to and the filler of its JSON template (``fill`` None: made from dicts each time).
    A message sent once never pays for the template."""

    __slots__ = ("content", "fill", "key", "queue", "sends")

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.key = ""
        self.fill: Filler | None = None
        self.sends = 0
        #: The content type and encoding the template was made with (arguments templates).
        self.content: tuple[Any, Any] = (None, None)


def kombu_message(
    producer: Any,
    channel: Any,
    message: TaskMessage,
    headers: dict[str, Any],
    properties: dict[str, Any],
    tag: str,
) -> dict[str, Any]:
    """The envelope ``Producer.publish`` and the channel's ``basic_publish`` make of one
    message (kombu's own steps, the write left out)."""
    publish = message.publish
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
    made: dict[str, Any] = channel.prepare_message(
        body, named.get("priority") or 0, content_type, content_encoding, headers, properties
    )
    channel._inplace_augment_message(made, exchange, publish["routing_key"])
    made["properties"]["delivery_tag"] = tag
    return made


def list_key(channel: Any, queue: str, made: dict[str, Any]) -> str:
    """The list a message goes to: its queue's, at the message's priority step."""
    return str(channel._q_for_pri(queue, channel._get_message_priority(made)))


def make_template(
    producer: Any,
    channel: Any,
    message: TaskMessage,
    header_names: tuple[str, str],
    envelope: Envelope,
    *,
    arguments: bool = False,
) -> None:
    """Make ``envelope``'s JSON with stand-ins where messages differ and its filler from
    the parts between them (``arguments``: the body, argsrepr and kwargsrepr too); none
    (dicts each time) if a stand-in is not found exactly where expected."""
    headers, properties = message.stamp(PLACEHOLDER_ID, ENTRY, OCCURRENCE, *header_names)
    expected = {PLACEHOLDER_ID: 3, TAG: 1, ENTRY: 1, OCCURRENCE: 1}
    if message.expires_relative:
        headers["expires"] = EXPIRES
        expected[EXPIRES] = 1
    if arguments:
        headers["argsrepr"], headers["kwargsrepr"] = ARGSREPR, KWARGSREPR
        expected.update({BODY: 1, ARGSREPR: 1, KWARGSREPR: 1})
    made = kombu_message(producer, channel, message, headers, properties, TAG)
    if arguments:
        envelope.content = (made["content-type"], made["content-encoding"])
        made["body"] = BODY
    text = dumps(made)
    stand_ins = [PLACEHOLDER_ID, TAG, ENTRY, OCCURRENCE, EXPIRES, BODY, ARGSREPR, KWARGSREPR]
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
        if stand_in in BARE:  # its quotes stay in the parts
            at, end = at + 1, end - 1
        parts[-1:] = [last[:at], last[end:]]
        slots.append(stand_in)
    envelope.key = list_key(channel, envelope.queue, made)
    envelope.fill = filler(parts, slots)


def arguments_text(
    producer: Any,
    channel: Any,
    message: TaskMessage,
    fill: Filler,
    content: tuple[Any, Any],
    stamp: tuple[str, str, str, str, str],
) -> str | None:
    """Return the JSON of ``message`` (one that differs from its built message by its
    arguments alone) from that message's arguments template ``fill``, with ``stamp``
    (quoted task id, tag, quoted entry, occurrence, quoted expires) and its own body,
    serialized by the producer and encoded by the channel as ``basic_publish`` would; None
    when its serializer gives another content type or encoding than the template's, or a
    body that is not text (the caller makes it from dicts then)."""
    publish = message.publish
    body, content_type, content_encoding = producer._prepare(
        message.body, publish["serializer"], None, None, None, None
    )
    if (content_type, content_encoding) != content:
        return None
    encoded, _ = channel.encode_body(body, channel.body_encoding)
    if type(encoded) is not str:  # a binary serializer's body, not base64: from dicts
        return None
    argsrepr, kwargsrepr = message.argument_reprs()
    return fill(*stamp, quoted(encoded), quoted(argsrepr), quoted(kwargsrepr))
