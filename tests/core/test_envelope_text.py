"""The text of a Redis broker batch's messages: delivery tags (random UUID4 strings, one read
of random bytes for TAGS_PER_READ of them), values quoted as kombu's encoder quotes them, and
a write packed as redis-py packs it."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from redis.connection import Connection

from beatcore import envelope_text, redis_write


def test_delivery_tags_are_distinct_uuid4_strings_from_few_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[int] = []
    original = os.urandom

    def urandom(size: int) -> bytes:
        reads.append(size)
        return original(size)

    monkeypatch.setattr(envelope_text.os, "urandom", urandom)
    tags = envelope_text.DeliveryTags()
    made = [tags.next() for _ in range(2 * envelope_text.TAGS_PER_READ + 1)]
    assert len(set(made)) == len(made)
    for tag in made:
        parsed = uuid.UUID(tag)
        assert str(parsed) == tag
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert reads == [16 * envelope_text.TAGS_PER_READ] * 3


@pytest.mark.parametrize(
    "text", ["plain", 'é ✓ "quoted"', "back\\slash", "ctl\x00\n\t\u2028", "\U0001f600", ""]
)
def test_a_value_is_quoted_as_kombus_encoder_quotes_it(text: str) -> None:
    """What a template's filler puts between its parts is what the dicts path writes."""
    assert envelope_text.quoted(text) == envelope_text.dumps(text)


@pytest.mark.parametrize(
    "commands",
    [
        [("LPUSH", "queue", '{"a": 1}', "é ✓")],
        [("LPUSH", "kø", "x" * 7000), ("PEXPIRE", "kø", 5000), ("PEXPIRE", "k\x06\x163", 1)],
    ],
)
def test_a_write_is_packed_as_redis_py_packs_it(commands: list[tuple[Any, ...]]) -> None:
    assert redis_write.pack(commands, "utf-8") == b"".join(Connection().pack_commands(commands))
