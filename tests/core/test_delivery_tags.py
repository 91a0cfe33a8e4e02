"""The Redis broker batch's delivery tags: random UUID4 strings, one read of random bytes
for TAGS_PER_READ of them."""

from __future__ import annotations

import os
import uuid

import pytest

from beatcore import envelope_text


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
