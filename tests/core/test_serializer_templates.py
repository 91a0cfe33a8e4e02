"""Definitions that differ only in their name are decoded once (the serializer's templates)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from beatcore import Crontab, Entry, Interval
from beatcore import serializer as serializer_module
from beatcore.entry import StoredName
from beatcore.errors import CorruptRecord
from beatcore.serializer import dumps_entry, loads_entry
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names each definition decoded the long way was read as (templates start empty)."""
    monkeypatch.setattr(serializer_module, "_TEMPLATES", {})
    monkeypatch.setattr(serializer_module, "_SEEN_ONCE", set())
    calls: list[str] = []
    original = serializer_module._decode_entry

    def counting(text: str | bytes, name: str) -> Entry:
        calls.append(name)
        return original(text, name)

    monkeypatch.setattr(serializer_module, "_decode_entry", counting)
    yield calls


def _entry(name: str, **fields: Any) -> Entry:
    fields.setdefault("schedule", Interval(timedelta(days=1), anchor=T0))
    return Entry(name=name, task="tasks.report", **fields)


@pytest.mark.parametrize("form", [bytes, str])
def test_entries_of_one_template_are_decoded_once_and_equal_the_long_way(
    decoded: list[str], form: type
) -> None:
    """A thousand entries that differ only in their name cost three decodes (the first
    entry's, the second's and the template's proof with a placeholder); each entry equals
    the one decoded in full."""
    template = {"kwargs": {"customer": 7}, "options": {"queue": "q"}, "args": (1, "x")}
    names = [f"customer-{i:04d}" for i in range(1000)]
    texts = [dumps_entry(_entry(name, **template)) for name in names]
    stored = [text.encode() if form is bytes else text for text in texts]
    entries = [loads_entry(text, name) for text, name in zip(stored, names, strict=True)]
    assert decoded == ["customer-0000", "customer-0001", "beatcore template a"]
    pairs = zip(stored, names, strict=True)
    assert entries == [serializer_module._decode_entry(text, name) for text, name in pairs]
    assert [e.name for e in entries] == names
    # each entry has dicts of its own, as a decoded one has
    assert len({id(e.kwargs) for e in entries}) == len({id(e.options) for e in entries}) == 1000


def test_a_different_definition_is_a_template_of_its_own(decoded: list[str]) -> None:
    """Anything but the name that differs (task, schedule, args) makes another template."""
    loads_entry(dumps_entry(_entry("a")), "a")
    loads_entry(dumps_entry(_entry("b")), "b")
    loads_entry(dumps_entry(_entry("c", schedule=Crontab("0 0 * * *"))), "c")
    loads_entry(dumps_entry(_entry("d", args=(2,))), "d")
    loads_entry(dumps_entry(_entry("e", args=(2,))), "e")
    loads_entry(dumps_entry(_entry("f")), "f")
    # a and b make the first template (b's read proves it), d and e the second; f reads
    # through the first
    assert decoded == ["a", "b", "beatcore template a", "c", "d", "e", "beatcore template a"]


def test_definitions_that_differ_in_more_than_the_name_cost_one_decode_each(
    decoded: list[str],
) -> None:
    """One schedule per customer with the customer in its arguments: no two texts share a
    template, so each is decoded once and none is kept as a template."""
    names = [f"customer-{i}" for i in range(500)]
    for i, name in enumerate(names):
        entry = loads_entry(dumps_entry(_entry(name, args=(i,), kwargs={"id": str(i)})), name)
        assert entry.args == (i,) and entry.kwargs == {"id": str(i)}
    assert decoded == names
    assert serializer_module._TEMPLATES == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"kwargs": {"nested": [1, 2]}},  # a container inside: entries would share it
        {"args": ({"a": 1},)},
        {"options": {"headers": {"h": "v"}}},
    ],
)
def test_values_an_entry_may_not_share_are_decoded_every_time(
    decoded: list[str], fields: dict[str, Any]
) -> None:
    first, second = (loads_entry(dumps_entry(_entry(n, **fields)), n) for n in ("a", "b"))
    assert decoded[-2:] == ["a", "b"]  # each decoded the long way
    assert first.kwargs is not second.kwargs and first.args == second.args


def test_a_name_that_is_not_plain_text_is_decoded_the_long_way(decoded: list[str]) -> None:
    """Names from before the name rule stay StoredName, whatever templates exist."""
    name = "old\nname"
    loads_entry(dumps_entry(_entry("plain")), "plain")
    text = dumps_entry(_entry(StoredName(name)))
    entry = loads_entry(text, name)
    assert type(entry.name) is StoredName and entry.name == name
    assert decoded[-1] == name


def test_a_non_ascii_name_reads_through_its_template(decoded: list[str]) -> None:
    names = ["kunde-ä", "клиент", "客户"]
    entries = [loads_entry(dumps_entry(_entry(n)).encode(), n) for n in names]
    assert [e.name for e in entries] == names and len(decoded) == 3  # the last by template


def test_a_record_holding_another_name_is_still_named_corrupt(decoded: list[str]) -> None:
    """The name asked for found elsewhere in the text (a second name member, an argument)
    never makes the record read as that entry."""
    good = dumps_entry(_entry("b"))
    doubled = good.replace('{"name":"b"', '{"name":"a","name":"b"', 1)
    with pytest.raises(CorruptRecord, match="record holds entry 'b', not 'a'"):
        loads_entry(doubled, "a")
    in_args = '{"args":[{"name":"a"}],' + good[1:]
    with pytest.raises(CorruptRecord, match="record holds entry 'b', not 'a'"):
        loads_entry(in_args, "a")
    # and the record of "b" itself reads, through a template made of the doubled text
    assert [loads_entry(doubled, "b").name for _ in range(3)] == ["b", "b", "b"]
    assert decoded[-2:] == ["b", "beatcore template a"]  # the second read proved it
    assert loads_entry(doubled.replace('"name":"b"', '"name":"c"'), "c").name == "c"


def test_a_corrupt_record_of_a_known_template_is_still_named(decoded: list[str]) -> None:
    loads_entry(dumps_entry(_entry("a")), "a")
    bad_version = dumps_entry(_entry("b")).replace('"v":1', '"v":99')
    with pytest.raises(CorruptRecord, match="format version 99"):
        loads_entry(bad_version, "b")
    with pytest.raises(CorruptRecord, match="not valid JSON"):
        loads_entry(dumps_entry(_entry("c"))[:-1], "c")


def test_the_table_of_templates_is_bounded(
    decoded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serializer_module, "TEMPLATES_LIMIT", 10)
    monkeypatch.setattr(serializer_module, "SEEN_ONCE_LIMIT", 10)
    for i in range(25):
        for name in ("e", "f"):  # the second read makes the template
            loads_entry(dumps_entry(_entry(name, args=(i,))), name)
    assert 0 < len(serializer_module._TEMPLATES) <= 10
    for i in range(25):
        loads_entry(dumps_entry(_entry("g", args=(100 + i,))), "g")
    assert 0 < len(serializer_module._SEEN_ONCE) <= 10
    long = dumps_entry(_entry("x", kwargs={"text": "y" * serializer_module.TEMPLATE_TEXT_LIMIT}))
    before = len(serializer_module._TEMPLATES)
    assert loads_entry(long, "x").name == "x"
    assert len(serializer_module._TEMPLATES) == before  # too long to be kept
