"""The definitions a store decoded lately (:class:`beatcore.definition_cache.DefinitionCache`)
and the values built without their constructor (:mod:`beatcore.frozen_build`): each read
gives what the serializer's decode gives, whatever was read before."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

import beatcore
from beatcore import serializer, storekit
from beatcore.definition_cache import DEFINITION_TEXT_LIMIT, DefinitionCache
from beatcore.entry import Entry, EntryState, checked_state
from beatcore.errors import CorruptRecord
from beatcore.plugins import get_plugins
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


class _Every:
    """A schedule type of a plugin that comes and goes in these tests (two classes of one
    type name: an upgraded plugin)."""

    type_name = "tests.cache_every"

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.n == self.n  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, int]:
        return {"n": self.n}

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> _Every:
        return cls(int(data["n"]))

    def next_after(self, dt: datetime) -> datetime | None:
        return dt + timedelta(seconds=self.n)


class _EveryUpgraded(_Every):
    pass


class _TypePlugin:
    def __init__(self, cls: type[_Every]) -> None:
        self.cls = cls

    @beatcore.hookimpl
    def beatcore_schedule_types(self) -> list[type[_Every]]:
        return [self.cls]


def test_a_plugin_taken_out_or_changed_empties_the_caches_of_every_store() -> None:
    plugins = get_plugins()
    old = _TypePlugin(_Every)
    plugins.register(old)
    try:
        caches = [DefinitionCache(), DefinitionCache()]
        texts = {name: _text(name, schedule=_Every(5)) for name in ("a", "b")}
        for cache in caches:
            for name, text in texts.items():
                assert type(cache.loads(text, name).schedule) is _Every
        assert all(len(cache) == 2 for cache in caches)
    finally:
        plugins.unregister(old)
    assert [len(cache) for cache in caches] == [0, 0]
    for cache in caches:  # the type is gone: the record is unreadable, not served from memory
        with pytest.raises(CorruptRecord, match=r"unknown schedule type 'tests\.cache_every'"):
            cache.loads(texts["a"], "a")
    new = _TypePlugin(_EveryUpgraded)
    plugins.register(new)
    try:
        for cache in caches:
            assert type(cache.loads(texts["b"], "b").schedule) is _EveryUpgraded
    finally:
        plugins.unregister(new)


def test_registering_a_plugin_again_keeps_what_the_caches_hold() -> None:
    cache = DefinitionCache()
    text = _text("a")
    first = cache.loads(text, "a")
    plugins = get_plugins()
    import beatcore.builtins

    plugins.register(beatcore.builtins)  # registered already: nothing changes
    assert cache.loads(text, "a") is first


def test_the_serializer_forgets_its_templates_when_the_types_change() -> None:
    names = ("t1", "t2", "t3")
    for _ in range(2):  # the template is proven on its second read
        for name in names:
            serializer.loads_entry(_text(name), name)
    assert serializer._TEMPLATES
    plugin = _TypePlugin(_Every)
    get_plugins().register(plugin)
    try:
        assert not serializer._TEMPLATES
    finally:
        get_plugins().unregister(plugin)
