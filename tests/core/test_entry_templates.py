"""The write side's templates: definitions that differ only in their name are written from
one text, in exactly the bytes :func:`dumps_entry` writes; anything else gets its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from beatcore import Clocked, Crontab, Entry, Interval, Solar, entry_templates
from beatcore.record_text import definition_halves
from beatcore.serializer import dumps_entry, loads_entry
from beatcore.testing.contract.batches import NoNextRun

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _empty_table() -> Iterator[None]:
    entry_templates.clear()
    yield
    entry_templates.clear()


def _entry(name: str = "e", **fields: Any) -> Entry:
    fields.setdefault("schedule", Interval(60))
    return Entry(name=name, task=fields.pop("task", "t"), **fields)


#: Pairs of field sets that are equal as Python values but written apart.
EQUAL_BUT_WRITTEN_APART = [
    ({"args": (1,)}, {"args": (1.0,)}),
    ({"args": (1,)}, {"args": (True,)}),
    ({"args": (0.0,)}, {"args": (-0.0,)}),
    ({"kwargs": {"a": 1}}, {"kwargs": {"a": 1.0}}),
    ({"options": {"priority": 0}}, {"options": {"priority": False}}),
    ({"jitter": 1}, {"jitter": 1.0}),
    ({"jitter": 0}, {"jitter": 0.0}),
    ({"misfire_grace": 0.0}, {"misfire_grace": -0.0}),
    ({"misfire_grace": 5}, {"misfire_grace": 5.0}),
    ({"overlap_timeout": 5}, {"overlap_timeout": 5.0}),
    ({"schedule": Crontab("*/15 * * * *")}, {"schedule": Crontab("0,15,30,45 * * * *")}),
    ({"schedule": Solar("sunset", 0.0, 10.0)}, {"schedule": Solar("sunset", -0.0, 10.0)}),
    ({"schedule": Interval(60)}, {"schedule": Interval(timedelta(minutes=1), relative=True)}),
]


@pytest.mark.parametrize(("first", "second"), EQUAL_BUT_WRITTEN_APART)
def test_entries_that_differ_in_more_than_the_name_are_written_apart(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    for fields in (first, second, first, second):  # each written after the other's template
        for name in ("a", "b"):
            entry = _entry(name, **fields)
            assert entry_templates.definition_text(entry) == dumps_entry(entry)


ENTRIES = [
    {},
    {"args": (1, "x", None), "kwargs": {"b": {"y": 2}, "a": [1.5]}, "options": {"queue": "q"}},
    {"enabled": False, "tz": "Europe/Paris", "catch_up": "skip", "static": True},
    {"start_at": T0, "end_at": T0 + timedelta(days=1, microseconds=3), "max_runs": 3},
    {"misfire_grace": 30, "jitter": 2.5, "description": "nightly", "overlap": "skip"},
    {"overlap": "buffer_one", "overlap_timeout": 90.5},
    {"schedule": Crontab("0 9 * * MON", tz="America/New_York")},
    {"schedule": Clocked(T0)},
    {"schedule": Solar("sunrise", 52.5, 13.4)},
    {"schedule": Interval(30, anchor=T0)},
]


@pytest.mark.parametrize("fields", ENTRIES)
def test_entries_of_one_template_are_written_as_dumps_entry_writes_them(
    fields: dict[str, Any],
) -> None:
    names = ["a", 'caf\u00e9 "q" \\ \U0001f600', "entry-0000001", "x" * 200]
    for name in names:
        entry = _entry(name, **fields)
        text = entry_templates.definition_text(entry)
        assert text == dumps_entry(entry)
        assert loads_entry(text, name) == entry
    with_arguments = any(fields.get(key) for key in ("args", "kwargs", "options"))
    assert entry_templates.template_count() == (0 if with_arguments else 1)


def test_entries_with_arguments_have_no_template() -> None:
    """Encoding args, kwargs or options is most of a text's cost, and entries that have them
    usually hold one customer each: they are written the long way and no template is made."""
    for i in range(50):
        for fields in ({"args": (i,)}, {"kwargs": {"id": i}}, {"options": {"queue": "q"}}):
            entry = _entry(f"customer-{i}", **fields)
            assert entry_templates.template_of(entry) is None
            assert entry_templates.definition_text(entry) == dumps_entry(entry)
    assert entry_templates.template_count() == 0
    assert entry_templates.shape_key(_entry("a", args=(1,))) == entry_templates.shape_key(
        _entry("b", kwargs={"other": 2})
    )


def test_a_name_that_also_appears_inside_the_definition_is_written_once_in_its_place() -> None:
    fields = {"kwargs": {"name": "a"}, "args": ('"name":"a"',)}
    for name in ("a", "b"):
        entry = _entry(name, **fields)
        assert entry_templates.definition_text(entry) == dumps_entry(entry)


def test_the_halves_are_the_text_around_the_name() -> None:
    entry = _entry("n", args=(1,), tz="UTC")
    before, after = definition_halves(entry)
    assert before + '"n"' + after == dumps_entry(entry)


def test_third_party_schedules_have_no_template() -> None:
    entry = _entry("a", schedule=NoNextRun(60))
    assert entry_templates.template_of(entry) is None
    assert entry_templates.definition_text(entry) == dumps_entry(entry)
    assert entry_templates.template_count() == 0


def test_the_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry_templates, "TEMPLATES_LIMIT", 8)
    for i in range(50):
        entry = _entry("a", task=f"task-{i}")
        assert entry_templates.definition_text(entry) == dumps_entry(entry)
        assert entry_templates.template_count() <= 8


def test_a_long_text_is_not_kept() -> None:
    long = _entry("a", description="d" * (entry_templates.TEMPLATE_TEXT_LIMIT + 1))
    assert entry_templates.template_of(long) is None
    assert entry_templates.definition_text(long) == dumps_entry(long)
    assert entry_templates.template_count() == 0


def test_a_batch_of_one_template_works_its_key_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries built alike (a new Interval each, the same other values) are told alike by
    the quick test against the last template, without the key of their fields."""
    keys: list[Entry] = []
    key_of = entry_templates.shape_key

    def counted(entry: Entry) -> Any:
        keys.append(entry)
        return key_of(entry)

    monkeypatch.setattr(entry_templates, "shape_key", counted)
    for i in range(100):
        entry = Entry(name=f"e-{i}", task="t", schedule=Interval(timedelta(hours=1)))
        assert entry_templates.definition_text(entry) == dumps_entry(entry)
    assert len(keys) == 1
    other = _entry("x", jitter=1.0)  # another template: its key, then quick again
    assert entry_templates.definition_text(other) == dumps_entry(other)
    assert entry_templates.definition_text(other.evolve(name="y")) == dumps_entry(
        other.evolve(name="y")
    )
    assert len(keys) == 2


def test_containers_changed_in_place_after_a_template_is_made_are_written_as_they_are() -> None:
    """A template's text is made once; args, kwargs or options changed in place since (the
    same tuple holding a list that grew, the template entry's dict emptied) must not make a
    later entry be written from it."""
    entry_templates.clear()
    payload = [1]
    first = Entry(name="a", task="t", schedule=Interval(60), args=(payload,))
    assert entry_templates.definition_text(first) == dumps_entry(first)
    payload.append(2)
    same_tuple = Entry(name="b", task="t", schedule=first.schedule, args=first.args)
    assert entry_templates.definition_text(same_tuple) == dumps_entry(same_tuple)
    entry_templates.clear()
    with_kwargs = Entry(name="c", task="t", schedule=Interval(60), kwargs={"k": 1})
    entry_templates.definition_text(with_kwargs)
    with_kwargs.kwargs.clear()
    plain = Entry(name="d", task="t", schedule=with_kwargs.schedule)
    assert entry_templates.definition_text(plain) == dumps_entry(plain)
