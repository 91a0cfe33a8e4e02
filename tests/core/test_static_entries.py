"""Reading ``beat_schedule``: each distinct schedule converted once, bad items named and skipped,
and the states of new static entries computed once per shared timing (beatcore.new_states)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery.schedules import crontab as celery_crontab
from celery.schedules import schedule as celery_schedule
from celery.schedules import solar as celery_solar

from beatcore import Crontab, Entry, Interval, hookimpl, serializer, timing
from beatcore.builtins import adapted_value_key
from beatcore.new_states import NewStates
from beatcore.plugins import Plugins
from beatcore.schedules import ScheduleType
from beatcore.static import Schedules, static_entries
from beatcore.timeutil import UTC

T0 = datetime(2026, 3, 7, 12, 0, 30, tzinfo=UTC)


class _Foreign:
    """A schedule object of a third party, which its plugin converts to its own type."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds


class _ForeignType:
    """That plugin's schedule type: a plugin's objects need not be immutable, never shared."""

    type_name = "tests.foreign"

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _ForeignType:
        return cls(data["seconds"])

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def next_after(self, dt: datetime) -> datetime:
        return dt + timedelta(seconds=self.seconds)


class _Counting:
    """Counts the conversions asked of the plugins (called before the built-in one)."""

    def __init__(self) -> None:
        self.asked: list[object] = []

    @hookimpl(tryfirst=True)
    def beatcore_adapt_schedule(self, obj: object) -> ScheduleType | None:
        self.asked.append(obj)
        if isinstance(obj, _Foreign):
            return _ForeignType(obj.seconds)
        return None


@pytest.fixture
def counting() -> Iterator[tuple[Plugins, _Counting]]:
    plugins = Plugins(load_entry_points=False)
    counter = _Counting()
    plugins.register(counter)
    yield plugins, counter


def _celery_solar(event: str, lat: float, lon: float) -> celery_solar:
    """Celery's solar object as its constructor makes it (which needs ephem) for the fields
    beatcore reads."""
    made = object.__new__(celery_solar)
    made.event, made.lat, made.lon = event, lat, lon
    return made


def _items(*schedules: object) -> dict[str, dict[str, Any]]:
    return {f"e{i}": {"task": "t", "schedule": s} for i, s in enumerate(schedules)}


def test_one_schedule_object_in_many_items_is_converted_once(
    counting: tuple[Plugins, _Counting],
) -> None:
    plugins, counter = counting
    hourly = celery_schedule(timedelta(hours=1))
    parsed = static_entries(_items(hourly, hourly, hourly), plugins)
    assert not parsed.errors
    assert counter.asked == [hourly]
    assert {id(entry.schedule) for entry in parsed.entries} == {id(parsed.entries[0].schedule)}
    assert parsed.entries[0].schedule == Interval(3600)
    assert [entry.name for entry in parsed.entries] == ["e0", "e1", "e2"]
    assert all(entry.static for entry in parsed.entries)


def test_equal_schedules_written_per_item_are_converted_once_each_value(
    counting: tuple[Plugins, _Counting],
) -> None:
    """A value equal to one met before (with values of the same types) is not converted
    again; 60 and 60.0, or relative and not, are other values."""
    plugins, counter = counting
    schedules = [
        celery_schedule(timedelta(hours=1)),
        celery_schedule(timedelta(hours=1)),
        celery_schedule(timedelta(hours=1), relative=True),
        celery_crontab(minute=0, hour="9-17"),
        celery_crontab(minute=0, hour="9-17"),
        celery_crontab(minute=5, hour="9-17"),
        _celery_solar("sunrise", 52.5, 13.4),
        _celery_solar("sunrise", 52.5, 13.4),
        60,
        60,
        60.0,
        timedelta(minutes=2),
        timedelta(minutes=2),
    ]
    parsed = static_entries(_items(*schedules), plugins)
    assert not parsed.errors
    assert len(counter.asked) == 8
    got = [entry.schedule for entry in parsed.entries]
    assert got[0] is got[1] == Interval(3600)
    assert got[2] == Interval(3600, relative=True)
    assert got[3] is got[4] == Crontab(minute="0", hour="9-17")
    assert got[5] == Crontab(minute="5", hour="9-17")
    assert got[6] is got[7]
    assert got[8] is got[9] == got[10] == Interval(60)
    assert got[11] is got[12] == Interval(120)


def test_what_cannot_be_keyed_or_shared_is_converted_for_each_item(
    counting: tuple[Plugins, _Counting],
) -> None:
    """A subclass of Celery's schedule may convert otherwise, and a plugin's own type is
    never shared between items (each is asked again); a set field (unhashable) is keyed by
    its members with their types, so two equal crontabs of sets are converted once."""
    plugins, counter = counting

    class Subclass(celery_schedule):  # type: ignore[misc]
        pass

    sets = [celery_crontab(minute={0, 30}), celery_crontab(minute={0, 30})]
    assert adapted_value_key(Subclass(timedelta(hours=1))) is None
    foreign = _Foreign(5)
    schedules = [Subclass(timedelta(hours=1)), Subclass(timedelta(hours=1)), *sets]
    parsed = static_entries(_items(*schedules, foreign, foreign), plugins)
    assert not parsed.errors
    assert counter.asked == [*schedules[:3], foreign, foreign]
    first, second = (entry.schedule for entry in parsed.entries[4:])
    assert isinstance(first, _ForeignType) and first is not second
    assert parsed.entries[2].schedule == parsed.entries[3].schedule


def test_a_bad_item_among_good_ones_is_named_and_skipped_each_time(
    counting: tuple[Plugins, _Counting],
) -> None:
    """A schedule nothing converts is never remembered: every item holding it gets its own
    error, naming it; the good items around them are read, sharing their schedule."""
    plugins, _ = counting
    bad = object()
    beat_schedule = {
        "good-1": {"task": "t", "schedule": 60},
        "bad-1": {"task": "t", "schedule": bad},
        "good-2": {"task": "t", "schedule": 60},
        "bad-2": {"task": "t", "schedule": bad},
        "bad-3": {"task": "t", "schedule": 60, "catch_up": "sometimes"},
        "bad-4": ["not", "a", "dict"],
    }
    parsed = static_entries(beat_schedule, plugins)
    assert [entry.name for entry in parsed.entries] == ["good-1", "good-2"]
    assert parsed.entries[0].schedule is parsed.entries[1].schedule
    assert sorted(parsed.errors) == ["bad-1", "bad-2", "bad-3", "bad-4"]
    assert "schedule of entry 'bad-1'" in parsed.errors["bad-1"]
    assert "schedule of entry 'bad-2'" in parsed.errors["bad-2"]
    assert "catch_up of entry 'bad-3'" in parsed.errors["bad-3"]
    assert "beat_schedule['bad-4'] must be a dict" in parsed.errors["bad-4"]


def test_schedules_of_one_reading_keep_the_objects_they_know(
    counting: tuple[Plugins, _Counting],
) -> None:
    """An object is known by identity only while it is the same object (its id is kept)."""
    plugins, counter = counting
    schedules = Schedules(plugins)
    first = schedules.adapt(celery_crontab(minute=7), "a")
    assert schedules.adapt(celery_crontab(minute=7), "b") is first
    beatcore_own = Interval(30)
    assert schedules.adapt(beatcore_own, "c") is beatcore_own
    assert len(counter.asked) == 1


@pytest.mark.parametrize(
    "entry",
    [
        Entry(name="a", task="t", schedule=Interval(3600)),
        Entry(name="b", task="t", schedule=Interval(3600), jitter=30, enabled=False),
        Entry(name="c", task="t", schedule=Crontab(minute="0", hour="9"), tz="Europe/Berlin"),
        Entry(name="d", task="t", schedule=Crontab(minute="0", hour="9")),
        Entry(name="e", task="t", schedule=Interval(60), start_at=T0 + timedelta(days=2)),
        Entry(name="f", task="t", schedule=Interval(60), end_at=T0 + timedelta(seconds=10)),
        Entry(name="g", task="t", schedule=_ForeignType(7)),  # type: ignore[arg-type]
    ],
)
def test_new_states_are_those_of_state_after_save(entry: Entry) -> None:
    new_states = NewStates(T0, "America/New_York")
    expected = timing.state_after_save(None, None, entry, T0, "America/New_York")
    assert new_states.state(entry) == expected
    assert new_states.state(entry.evolve(name="other")) == expected


def test_new_entries_share_a_state_only_where_their_timing_is_shared() -> None:
    nine = Crontab(minute="0", hour="9")
    new_states = NewStates(T0, "UTC")
    utc = [Entry(name=f"u{i}", task="t", schedule=nine, jitter=i) for i in range(3)]
    berlin = Entry(name="b", task="t", schedule=nine, tz="Europe/Berlin")
    states = [new_states.state(entry) for entry in [*utc, berlin]]
    assert states[0] is states[1] is states[2]
    assert states[3] != states[0]
    assert states[3] == timing.state_after_save(None, None, berlin, T0, "UTC")
    foreign = _ForeignType(7)
    one = Entry(name="x", task="t", schedule=foreign)  # type: ignore[arg-type]
    assert new_states.state(one) is not new_states.state(one.evolve(name="y"))


def _built_alone(name: str, item: dict[str, Any]) -> Entry:
    """The entry of one item read on its own (nothing read before it to start from)."""
    parsed = static_entries({name: item}, Plugins(load_entry_points=False))
    assert not parsed.errors, parsed.errors
    return parsed.entries[0]


def test_items_differing_only_in_their_name_are_each_the_entry_read_alone() -> None:
    hourly = celery_schedule(timedelta(hours=1))
    beat_schedule = {
        f"n{i}": {"task": "t", "schedule": celery_schedule(timedelta(hours=1)), "jitter": 5}
        for i in range(3)
    }
    beat_schedule["with-kwargs"] = {"task": "t", "schedule": hourly, "kwargs": {}, "args": []}
    beat_schedule["with-kwargs-2"] = {"task": "t", "schedule": hourly, "kwargs": {}, "args": []}
    parsed = static_entries(beat_schedule, Plugins(load_entry_points=False))
    assert not parsed.errors
    for entry in parsed.entries:
        alone = _built_alone(entry.name, beat_schedule[entry.name])
        assert entry == alone
        assert serializer.dumps_entry(entry) == serializer.dumps_entry(alone)
        assert entry.static and entry.name in beat_schedule
    kwargs = [id(entry.kwargs) for entry in parsed.entries]
    options = [id(entry.options) for entry in parsed.entries]
    assert len(set(kwargs)) == len(set(options)) == 5, "each entry has its own dicts"
    assert parsed.entries[0].schedule is parsed.entries[2].schedule


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"jitter": 1}, {"jitter": True}),  # equal values of other types are other items
        ({"max_runs": 1}, {"max_runs": True}),
        ({"enabled": True}, {"enabled": 1}),
        ({"misfire_grace": 0.0}, {"misfire_grace": -0.0}),
        ({"args": [1]}, {"args": [True]}),
        ({"args": []}, {"args": ()}),
        ({"relative": False}, {"relative": True}),
        ({"description": "a"}, {"description": "b"}),
        ({"kwargs": {"a": 1}}, {"kwargs": {"a": 2}}),
        ({"options": {}}, {"options": {"queue": "q"}}),
        ({"tz": "UTC"}, {"tz": "Europe/Berlin"}),
        ({}, {"task": "other"}),
        ({}, {"schedule": 61}),
    ],
)
def test_an_item_unlike_the_one_before_is_built_as_itself(
    first: dict[str, Any], then: dict[str, Any]
) -> None:
    """Whatever differs (a value, or only its type) makes the item its own: its entry is the
    one it gives read alone, or its error."""
    base = {"task": "t", "schedule": 60}
    items = {"a": {**base, **first}, "b": {**base, **first}, "c": {**base, **then}}
    parsed = static_entries(items, Plugins(load_entry_points=False))
    plugins = Plugins(load_entry_points=False)
    alone = static_entries({"c": items["c"]}, plugins)
    assert parsed.errors == alone.errors
    assert [e for e in parsed.entries if e.name == "c"] == list(alone.entries)
    texts = [serializer.dumps_entry(e) for e in parsed.entries if e.name == "c"]
    assert texts == [serializer.dumps_entry(e) for e in alone.entries]
    assert [e.name for e in parsed.entries][:2] == ["a", "b"]


def test_a_bad_name_on_an_item_like_a_good_one_is_named_and_skipped() -> None:
    item = {"task": "t", "schedule": 60.0}
    names = ["good", "bad\nname", "", "  ", "also-good"]
    parsed = static_entries({name: dict(item) for name in names}, Plugins(load_entry_points=False))
    assert [entry.name for entry in parsed.entries] == ["good", "also-good"]
    assert sorted(parsed.errors) == sorted(["bad\nname", "", "  "])
    assert "a name may not hold control characters" in parsed.errors["bad\nname"]
    assert "entry name must be a non-empty string" in parsed.errors[""]


def test_a_crontab_field_refused_alone_is_refused_after_an_equal_valid_one() -> None:
    """(0, 30), (False, 30) and (0.0, 30) are equal tuples, but Crontab refuses the bool and
    the float: reading a valid one first (in this beat_schedule or an earlier one) must not
    let the others through as the same schedule."""
    plugins = Plugins(load_entry_points=False)
    bad = {
        "b": {"task": "t", "schedule": celery_crontab(minute=(False, 30))},
        "c": {"task": "t", "schedule": celery_crontab(minute=(0.0, 30))},
    }
    alone = static_entries(bad, plugins).errors
    assert sorted(alone) == ["b", "c"]
    good_first = {"a": {"task": "t", "schedule": celery_crontab(minute=(0, 30))}, **bad}
    read = static_entries(good_first, plugins)
    assert read.errors == alone
    assert [entry.name for entry in read.entries] == ["a"]
    assert static_entries(bad, plugins).errors == alone
