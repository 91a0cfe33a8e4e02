"""The text of a kombu Redis envelope, made per message: what :mod:`beatcore.redis_broker`
fills into an envelope's JSON template, and the function that fills it.

An envelope's JSON is made once per definition with stand-ins (:data:`TAG`, :data:`ENTRY`,
:data:`OCCURRENCE`, :data:`EXPIRES` and the message's task id placeholder) where messages
differ, and once per task and options with :data:`BODY`, :data:`ARGSREPR` and
:data:`KWARGSREPR` too, for the messages that differ by their arguments alone;
:func:`filler` turns the parts between them into one function that joins a message's values
in. Delivery tags are random UUID4 strings made in bulk (:class:`DeliveryTags`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from kombu.utils.json import dumps as _kombu_dumps

from beatcore.task_message import PLACEHOLDER_ID

#: Stand-ins for what differs per message while an envelope's JSON template is made.
TAG, ENTRY, OCCURRENCE, EXPIRES = (
    "00000000-beat-core-tag0-000000000000",
    "00000000-beat-core-entry-name-00000",
    "00000000-beat-core-occurrence-00000",
    "00000000-beat-core-expires-00000000",
)
BODY, ARGSREPR, KWARGSREPR = (
    "00000000-beat-core-body-00000000000",
    "00000000-beat-core-argsrepr-0000000",
    "00000000-beat-core-kwargsrepr-00000",
)
#: The parameter of an envelope's filler (:func:`filler`) each stand-in's value is passed as.
_PARAMETERS = {
    PLACEHOLDER_ID: "task_id",
    TAG: "tag",
    ENTRY: "entry",
    OCCURRENCE: "occurrence",
    EXPIRES: "expires",
    BODY: "body",
    ARGSREPR: "argsrepr",
    KWARGSREPR: "kwargsrepr",
}
#: Stand-ins whose values never need JSON escaping (a UUID, an ISO instant): their quotes stay
#: in the template and the value goes between them as it is.
BARE = frozenset({TAG, OCCURRENCE})


def dumps(value: Any) -> str:
    """``value`` as JSON, by kombu's encoder (the one its Redis transport writes with)."""
    return str(_kombu_dumps(value))  # type: ignore[no-untyped-call]


#: ``text`` as a JSON string, quoted as kombu's encoder quotes it (ASCII only): the
#: standard library's string encoder, which kombu's (``json.dumps``) calls for a string.
quoted: Callable[[str], str] = encode_basestring_ascii


#: What fills an envelope's template: (task id, delivery tag, entry, occurrence, expires,
#: body, argsrepr, kwargsrepr), the tag and occurrence bare, the others quoted as JSON
#: strings (the last three '' for a template that has no place for them).
Filler = Callable[[str, str, str, str, str, str, str, str], str]


def filler(parts: list[str], slots: list[str]) -> Filler:
    """Return the function that joins ``parts`` with one message's values in the places of
    ``slots`` (stand-ins; one string build per message; made once per envelope). The parts
    are written into its source with ``repr``, a Python literal whatever the text."""
    pieces = [repr(parts[0])]
    for slot, part in zip(slots, parts[1:], strict=True):
        pieces += [_PARAMETERS[slot], repr(part)]
    source = (
        "def fill(task_id, tag, entry, occurrence, expires, body, argsrepr, kwargsrepr):\n"
        f"    return ''.join(({', '.join(pieces)},))\n"
    )
    scope: dict[str, Any] = {}
    exec(compile(source, "<beatcore.redis_broker envelope>", "exec"), scope)
    fill: Filler = scope["fill"]
    return fill


#: Delivery tags made from one read of random bytes (one system call for that many).
TAGS_PER_READ = 256


class DeliveryTags:
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
