"""The definitions a store decoded lately (:class:`beatcore.definition_cache.DefinitionCache`)
and the values built without their constructor (:mod:`beatcore.frozen_build`): each read
gives what the serializer's decode gives, whatever was read before."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

from beatcore import serializer, storekit
from beatcore.definition_cache import DEFINITION_TEXT_LIMIT, DefinitionCache
from beatcore.entry import Entry, EntryState, checked_state
from beatcore.errors import CorruptRecord
from beatcore.schedules import Interval
from beatcore.store import Claim
from beatcore.timeutil import UTC


def _text(name: str, **changes: object) -> bytes:
    entry = Entry(name=name, task="t.noop", schedule=Interval(timedelta(minutes=1)))
    return serializer.dumps_entry(attrs.evolve(entry, **changes)).encode()


def test_the_same_bytes_give_the_entry_decoded_then() -> None:
    cache = DefinitionCache()
    text = _text("a", kwargs={"n": 1})
    first = cache.loads(text, "a")
    again = cache.loads(bytes(bytearray(text)), "a")  # equal bytes, another object
    assert again is first
    assert again == serializer.loads_entry(text, "a")


def test_changed_bytes_give_the_new_entry() -> None:
    cache = DefinitionCache()
    cache.loads(_text("a"), "a")
    changed = _text("a", args=(2,))
    assert cache.loads(changed, "a") == serializer.loads_entry(changed, "a")
    assert cache.loads(changed, "a").args == (2,)
    assert cache.loads(_text("a"), "a").args == ()


@pytest.mark.parametrize(
    "text",
    [b"{not json", b'{"v":1}', _text("a").replace(b'"interval"', b'"no-such-type"'), _text("b")],
)
def test_unreadable_bytes_raise_every_time_and_are_not_kept(text: bytes) -> None:
    cache = DefinitionCache()
    for _ in range(3):
        with pytest.raises(CorruptRecord) as raised:
            cache.loads(text, "a")
        with pytest.raises(CorruptRecord) as plain:
            serializer.loads_entry(text, "a")
        assert str(raised.value) == str(plain.value)
    assert len(cache) == 0


def test_a_name_reads_its_own_definition_only() -> None:
    cache = DefinitionCache()
    cache.loads(_text("a"), "a")
    with pytest.raises(CorruptRecord, match="holds entry 'a'"):
        cache.loads(_text("a"), "b")


def test_the_cache_keeps_at_most_its_limit_and_starts_again() -> None:
    cache = DefinitionCache(limit=4)
    for i in range(4):
        cache.loads(_text(f"e{i}"), f"e{i}")
    assert len(cache) == 4
    for i in range(4, 7):  # full: refused, the four kept stay
        cache.loads(_text(f"e{i}"), f"e{i}")
        assert len(cache) == 4 and cache.find("e0") is not None
    cache.loads(_text("e7"), "e7")  # the fourth refused: it starts again
    cache.loads(_text("e8"), "e8")
    assert len(cache) == 1 and cache.find("e8") is not None


def test_a_long_definition_is_decoded_each_time() -> None:
    cache = DefinitionCache()
    text = _text("a", description="x" * DEFINITION_TEXT_LIMIT)
    assert cache.loads(text, "a") == serializer.loads_entry(text, "a")
    assert len(cache) == 0


def test_values_built_without_their_constructor_equal_the_constructed_ones() -> None:
    at = datetime(2026, 12, 2, 1, 2, 3, 4, tzinfo=UTC)
    state = checked_state(at, None, 3, 1, "id", None, at)
    assert type(state) is EntryState
    assert state == EntryState(at, None, 3, 1, "id", None, at)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        state.total_run_count = 4  # type: ignore[misc]
    entry = serializer.loads_entry(_text("a"), "a")
    claim = storekit.claim_of(entry, state, True, None)
    assert type(claim) is Claim and claim == Claim(entry, state, recovered=True)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        claim.recovered = False  # type: ignore[misc]
