"""Entry validation and the versioned serializer."""

from __future__ import annotations

import enum
import json
import types
from datetime import datetime, timedelta
from typing import Any

import pytest

from beatcore import Clocked, Crontab, Entry, EntryState, Interval, InvalidEntry, InvalidSchedule
from beatcore.entry import MAX_SECONDS
from beatcore.errors import CorruptRecord
from beatcore.serializer import (
    ENTRY_OMITTED_DEFAULTS,
    FORMAT_VERSION,
    STATE_OMITTED_DEFAULTS,
    dumps_entry,
    dumps_state,
    loads_entry,
    loads_state,
    schedule_from_dict,
    stored_dict,
)
from beatcore.timeutil import UTC, zone

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "entry name must be a non-empty string"),
        ({"task": " "}, "task of entry 'e' must be a non-empty task name"),
        ({"catch_up": "sometimes"}, "catch_up of entry 'e' must be one of latest, all, skip"),
        ({"jitter": -1}, "jitter of entry 'e' must be a number of seconds >= 0 and <= 8"),
        ({"misfire_grace": "soon"}, "misfire_grace of entry 'e' must be a number"),
        ({"max_runs": 0}, "max_runs of entry 'e' must be a positive integer"),
        ({"tz": "Mars/Olympus"}, "tz of entry 'e': unknown time zone 'Mars/Olympus'"),
        ({"args": (object(),)}, "args of entry 'e' must be JSON-serializable"),
        ({"schedule": "every minute"}, "schedule of entry 'e' must be a schedule type"),
        ({"start_at": T0, "end_at": T0 - timedelta(days=1)}, "end_at of entry 'e'"),
    ],
)
def test_invalid_entries_are_refused_with_a_clear_message(
    fields: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {"name": "e", "task": "t", "schedule": Interval(5)}
    with pytest.raises(InvalidEntry) as info:
        Entry(**{**base, **fields})  # type: ignore[arg-type]
    assert message in str(info.value)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidSchedule, match="timezone-aware"):
        Entry(name="e", task="t", schedule=Interval(5), start_at=datetime(2026, 1, 1))
    with pytest.raises(InvalidSchedule, match="timezone-aware"):
        Clocked(datetime(2026, 1, 1))


def test_interval_validation() -> None:
    with pytest.raises(InvalidSchedule, match="positive"):
        Interval(0)
    with pytest.raises(InvalidSchedule, match="timedelta or a number"):
        Interval("5")  # type: ignore[arg-type]
    assert Interval(timedelta(minutes=5)).describe() == "every 5 minutes"
    assert Interval(1).describe() == "every second"


def test_entry_and_state_round_trip() -> None:
    entry = Entry(
        name="e",
        task="t",
        schedule=Crontab("*/5 9-17 * * MON-FRI", tz="Europe/Paris"),
        args=[1, "x"],
        kwargs={"a": {"b": 1}},
        options={"queue": "q"},
        catch_up="skip",
        jitter=1.5,
        misfire_grace=10,
        start_at=T0,
        max_runs=3,
        static=True,
    )
    assert loads_entry(dumps_entry(entry), "e") == entry
    state = EntryState(
        next_run_at=T0,
        last_run_at=T0,
        total_run_count=4,
        last_task_id="x",
        last_error="boom",
        triggered_at=T0,
    )
    assert loads_state(dumps_state(state), "e") == state
    assert json.loads(dumps_entry(entry))["v"] == FORMAT_VERSION


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("{oops", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"v": 99, "name": "e"}', "record format version 99 is not supported"),
        (
            '{"v": 1, "name": "e", "schedule": {"type": "interval", "every": 5}}',
            "missing field 'task'",
        ),
        (
            '{"v": 1, "name": "e", "task": "t", "schedule": {"type": "interval", "every": -5}}',
            "interval must be positive",
        ),
        (
            '{"v": 1, "name": "other", "task": "t", "schedule": {"type": "interval", "every": 5}}',
            "holds entry 'other'",
        ),
        (
            '{"v": 1, "name": "e", "task": "t", "schedule": {"type": "interval", "every": 5}, '
            '"kwargs": [1]}',
            "kwargs of entry 'e' must be a mapping, got list [1]",
        ),
        (
            '{"v": 1, "name": "e", "task": "t", "schedule": {"type": "interval", "every": 5}, '
            '"args": "ab"}',
            "args of entry 'e' must be a list or tuple, got str 'ab'",
        ),
        (
            '{"v": 1, "name": "e", "task": "t", "schedule": {"type": "interval", "every": 5}, '
            '"catch_up": "never"}',
            "catch_up of entry 'e' must be one of",
        ),
        (
            '{"v": 1, "name": "e", "task": "t", "schedule": {"type": "interval", "every": 5}, '
            '"start_at": "2026-01-05T12:00:00"}',
            "start_at must be a timezone-aware datetime",
        ),
        (
            '{"v": 1, "name": "e", "task": "t", "schedule": {"type": "interval", "every": 5}, '
            '"end_at": "tomorrow"}',
            "end_at is not an ISO 8601 datetime: 'tomorrow'",
        ),
    ],
)
def test_unreadable_records_raise_corrupt_record_naming_the_entry(text: str, cause: str) -> None:
    with pytest.raises(CorruptRecord) as info:
        loads_entry(text, "e")
    assert info.value.name == "e"
    assert cause in str(info.value)
    assert str(info.value).startswith("stored record of entry 'e' cannot be read")


def test_schedule_check_is_structural_and_remembered_per_class() -> None:
    from beatcore.schedules.base import is_schedule

    class Half:
        type_name = "half"

        def to_dict(self) -> dict[str, object]:
            return {}

    assert is_schedule(Interval(5)) and is_schedule(Interval(7))
    assert not is_schedule(Half())
    assert not is_schedule(Interval), "a class is not a schedule"
    assert not is_schedule(5)


def test_a_class_that_is_no_schedule_is_remembered_but_instance_members_still_count() -> None:
    from celery.schedules import schedule as celery_schedule

    from beatcore.schedules.base import is_schedule

    assert not is_schedule(celery_schedule(5))
    assert not is_schedule(celery_schedule(7)), "the remembered answer for the class"

    def members() -> dict[str, object]:
        return {
            "type_name": "duck",
            "to_dict": dict,
            "from_dict": lambda data: None,
            "next_after": lambda dt: None,
        }

    assert not is_schedule(types.SimpleNamespace())
    assert is_schedule(types.SimpleNamespace(**members())), "members held by the instance"
    assert not is_schedule(types.SimpleNamespace())


# The stored format before compact records: these bytes were written by beatcore with every
# field (before the serializer was made faster, and after); every release of format version 1
# must still read them.
PINNED_ENTRY = (
    '{"args":[1,"x",[2.5,null]],"catch_up":"all","enabled":true,'
    '"end_at":"2026-02-04T12:00:00.000007+00:00","jitter":1.5,'
    '"kwargs":{"a":"\\u00e9","b":{"a":true,"z":1}},"max_runs":3,"misfire_grace":10,'
    '"name":"pinned","options":{"priority":5,"queue":"q"},'
    '"schedule":{"day_of_month":"*","day_of_week":"MON-FRI","hour":"9-17","minute":"*/5",'
    '"month_of_year":"*","type":"crontab","tz":"Europe/Paris"},'
    '"start_at":"2026-01-05T12:00:00+00:00","static":true,"task":"proj.report",'
    '"tz":"America/New_York","v":1}'
)
PINNED_INTERVAL = (
    '{"args":[],"catch_up":"latest","enabled":true,"end_at":null,"jitter":0.0,"kwargs":{},'
    '"max_runs":null,"misfire_grace":null,"name":"i","options":{},'
    '"schedule":{"anchor":"2026-01-05T12:00:00+00:00","every":90.0,"type":"interval"},'
    '"start_at":null,"static":false,"task":"t","tz":null,"v":1}'
)
PINNED_STATE = (
    '{"last_error":"boom","last_run_at":"2026-01-05T11:54:59.999750+00:00",'
    '"last_task_id":"id-1","next_run_at":"2026-01-05T12:00:00+00:00","skipped_run_count":2,'
    '"total_run_count":4,"triggered_at":null,"v":1}'
)


# The same records as written now: the fields at their default left out.
COMPACT_ENTRY = (
    '{"args":[1,"x",[2.5,null]],"catch_up":"all",'
    '"end_at":"2026-02-04T12:00:00.000007+00:00","jitter":1.5,'
    '"kwargs":{"a":"\\u00e9","b":{"a":true,"z":1}},"max_runs":3,"misfire_grace":10,'
    '"name":"pinned","options":{"priority":5,"queue":"q"},'
    '"schedule":{"day_of_month":"*","day_of_week":"MON-FRI","hour":"9-17","minute":"*/5",'
    '"month_of_year":"*","type":"crontab","tz":"Europe/Paris"},'
    '"start_at":"2026-01-05T12:00:00+00:00","static":true,"task":"proj.report",'
    '"tz":"America/New_York","v":1}'
)
COMPACT_INTERVAL = (
    '{"name":"i",'
    '"schedule":{"anchor":"2026-01-05T12:00:00+00:00","every":90.0,"type":"interval"},'
    '"task":"t","v":1}'
)
COMPACT_STATE = (
    '{"last_error":"boom","last_run_at":"2026-01-05T11:54:59.999750+00:00",'
    '"last_task_id":"id-1","next_run_at":"2026-01-05T12:00:00+00:00","skipped_run_count":2,'
    '"total_run_count":4,"v":1}'
)


def test_the_stored_format_is_pinned_byte_for_byte() -> None:
    entry = Entry(
        name="pinned",
        task="proj.report",
        schedule=Crontab("*/5 9-17 * * MON-FRI", tz="Europe/Paris"),
        args=[1, "x", [2.5, None]],
        kwargs={"b": {"z": 1, "a": True}, "a": "\u00e9"},
        options={"queue": "q", "priority": 5},
        catch_up="all",
        jitter=1.5,
        misfire_grace=10,
        start_at=T0.astimezone(zone("Europe/Berlin")),
        end_at=T0 + timedelta(days=30, microseconds=7),
        max_runs=3,
        static=True,
        tz="America/New_York",
    )
    interval = Entry(name="i", task="t", schedule=Interval(90, anchor=T0))
    state = EntryState(
        next_run_at=T0,
        last_run_at=T0 - timedelta(minutes=5, microseconds=250),
        total_run_count=4,
        skipped_run_count=2,
        last_task_id="id-1",
        last_error="boom",
    )
    assert dumps_entry(entry) == COMPACT_ENTRY
    assert dumps_entry(interval) == COMPACT_INTERVAL
    assert dumps_state(state) == COMPACT_STATE
    assert (
        dumps_state(EntryState(next_run_at=T0))
        == '{"next_run_at":"2026-01-05T12:00:00+00:00","v":1}'
    )
    assert dumps_state(EntryState()) == '{"v":1}'
    for compact, full, name in (
        (COMPACT_ENTRY, PINNED_ENTRY, "pinned"),
        (COMPACT_INTERVAL, PINNED_INTERVAL, "i"),
    ):
        assert loads_entry(compact, name) == loads_entry(full, name)
    assert loads_state(COMPACT_STATE, "pinned") == loads_state(PINNED_STATE, "pinned")
    # records written before compact records (every field present) still read
    assert loads_entry(PINNED_ENTRY.encode(), "pinned") == entry
    assert loads_entry(PINNED_INTERVAL, "i") == interval
    assert loads_state(PINNED_STATE.encode(), "pinned") == state


class _Opaque:
    pass


def _circular() -> list[object]:
    loop: list[object] = []
    loop.append(loop)
    return loop


def _deep(depth: int, leaf: object) -> object:
    value = leaf
    for _ in range(depth):
        value = {"k": [value]}
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": 1, "b": [1.5, None, True, "x", {"c": []}]}, None),
        ({"deep": _deep(12, "fine")}, None),
        ({"big": 2**70, "small": -(10**300), "max": 1.7e308}, None),
        ({"deep": _deep(49, "fine")}, None),  # 99 levels below the field's own dict
        ({"deep": _deep(50, "too deep")}, "nested more than 100 levels deep"),
        ({1: "int keys"}, "the dict key 1 is not a string (JSON would make it one)"),
        ({None: "None keys"}, "the dict key None is not a string"),
        ({"nan": float("nan")}, "nan is not a finite number"),
        ({"inf": [float("inf")]}, "inf is not a finite number"),
        ({"huge": 10**5000}, "an int too long to write"),
        ({"deep": _deep(12, _Opaque())}, "_Opaque <tests.core"),
        ({"opaque": _Opaque()}, "is not a JSON value"),
        ({"when": datetime(2026, 1, 1)}, "datetime datetime.datetime(2026, 1, 1, 0, 0) is not"),
        ({"loop": _circular()}, "nested more than 100 levels deep"),
        ({("tuple", "key"): 1}, "the dict key ('tuple', 'key') is not a string"),
        ({"set": {1, 2}}, "set {1, 2} is not a JSON value"),
    ],
)
def test_args_kwargs_and_options_must_be_json_that_reads_back_as_written(
    value: Any, problem: str | None
) -> None:
    """json.dumps writes int keys as strings, NaN as a token other readers refuse, and values
    too deep to read back: each is refused, naming the field and what is wrong."""
    for field, wrapped in (("args", (value,)), ("kwargs", value), ("options", value)):
        fields: dict[str, Any] = {"name": "e", "task": "t", "schedule": Interval(5), field: wrapped}
        if problem is None:
            entry = Entry(**fields)
            assert loads_entry(dumps_entry(entry), "e") == entry
            continue
        with pytest.raises(InvalidEntry) as info:
            Entry(**fields)
        message = str(info.value)
        assert message.startswith(f"{field} of entry 'e' must be JSON-serializable: "), message
        assert problem in message


def test_args_kwargs_and_options_are_copied_and_normalised() -> None:
    kwargs = {"a": 1}
    entry = Entry(name="e", task="t", schedule=Interval(5), args=[1, 2], kwargs=kwargs)
    kwargs["a"] = 2
    assert entry.args == (1, 2) and entry.kwargs == {"a": 1} and entry.options == {}
    with pytest.raises(InvalidEntry, match="args of entry 'e' must be a list or tuple, got str"):
        Entry(name="e", task="t", schedule=Interval(5), args="ab")


def test_state_evolve_converts_and_refuses_unknown_fields() -> None:
    state = EntryState(next_run_at=T0, total_run_count=3)
    later = state.evolve(last_run_at=T0.astimezone(zone("Europe/Berlin")), last_error="x")
    assert later == EntryState(next_run_at=T0, last_run_at=T0, total_run_count=3, last_error="x")
    assert later.last_run_at is not None and later.last_run_at.tzinfo is UTC
    with pytest.raises(TypeError):
        state.evolve(next_run=T0)
    with pytest.raises(InvalidSchedule, match="timezone-aware"):
        state.evolve(triggered_at=datetime(2026, 1, 1))


def test_crontabs_read_back_again_give_the_same_schedule_and_bad_ones_keep_failing() -> None:
    first = Crontab(minute="*/20", hour="9-11", day_of_week="MON-FRI", tz="Europe/Paris")
    again = loads_entry(dumps_entry(Entry(name="c", task="t", schedule=first)), "c").schedule
    assert again == first and again.to_dict() == first.to_dict()
    assert isinstance(again, Crontab)
    assert again.minutes == (0, 20, 40) and again.hours == (9, 10, 11)
    assert again.days_of_week == (1, 2, 3, 4, 5)
    for _ in range(2):
        with pytest.raises(
            InvalidSchedule, match=r"never occurs in month_of_year 2 in '0 0 30 2 \*'"
        ):
            Crontab("0 0 30 2 *")
    record = '{"v": 1, "name": "c", "task": "t", "schedule": {"type": "crontab", "minute": "61"}}'
    for _ in range(2):
        with pytest.raises(
            CorruptRecord, match="value 61 out of range 0-59 in '61 \\* \\* \\* \\*'"
        ):
            loads_entry(record, "c")


class _Count(enum.IntEnum):
    THREE = 3


class _Text(str):
    pass


class _Seconds(float):
    pass


@pytest.mark.parametrize(
    "state",
    [
        EntryState(),
        EntryState(next_run_at=T0, total_run_count=2**63 - 1, skipped_run_count=0),
        EntryState(
            next_run_at=T0.astimezone(zone("Asia/Kolkata")),
            last_run_at=T0 + timedelta(microseconds=1),
            triggered_at=T0,
            last_task_id="",
            last_error='send failed: "quoted" \\ back\nslash \x00 \u00e9 \u2603 \U0001f600 \ud800',
        ),
        # Subclasses of the declared types: written as the JSON encoder writes them.
        EntryState(total_run_count=_Count.THREE, skipped_run_count=_Count.THREE),
        EntryState(last_error=_Text("x\ny"), last_task_id=_Text("7")),
    ],
)
def test_dumps_state_writes_what_the_json_encoder_writes(state: EntryState) -> None:
    from beatcore.serializer import state_to_dict

    stored = stored_dict(state_to_dict(state), STATE_OMITTED_DEFAULTS)
    encoded = json.dumps(stored, separators=(",", ":"), sort_keys=True)
    assert dumps_state(state) == encoded
    assert loads_state(encoded, "e") == state


@pytest.mark.parametrize(
    "entry",
    [
        Entry(name="e", task="t", schedule=Interval(5)),
        Entry(
            name='caf\u00e9 "q" \\ \U0001f600',
            task=_Text("t\u2603"),
            schedule=Crontab("0 9 * * MON", tz="Europe/Paris"),
            args=(1, -0.0, 2**70, "x", [None, True], {"z": 1, "a": [1.5]}),
            kwargs={"b": {"y": 2, "x": 1}, "a": 1e308},
            options={"queue": "q", "headers": {"k": "v"}},
            enabled=False,
            tz="America/New_York",
            start_at=T0.astimezone(zone("Asia/Kolkata")),
            end_at=T0 + timedelta(days=1, microseconds=3),
            max_runs=_Count.THREE,
            catch_up="skip",
            misfire_grace=float(MAX_SECONDS),
            jitter=_Seconds(2.5),
            static=True,
        ),
        Entry(name="n", task="t", schedule=Interval(0.25), jitter=-0.0, misfire_grace=0),
        Entry(name="m", task="t", schedule=Clocked(T0), args=[[]], kwargs={"": {}}, jitter=3),
    ],
)
def test_dumps_entry_writes_what_the_json_encoder_writes(entry: Entry) -> None:
    from beatcore.serializer import entry_to_dict

    stored = stored_dict(entry_to_dict(entry), ENTRY_OMITTED_DEFAULTS)
    encoded = json.dumps(stored, separators=(",", ":"), sort_keys=True)
    assert dumps_entry(entry) == encoded


def test_a_value_made_circular_after_the_entry_was_checked_is_refused_by_the_encoder() -> None:
    """Values are written without the encoder's cycle check (the entry checked them); one
    changed in place into a cycle since still gets the encoder's error, not a crash."""
    entry = Entry(name="e", task="t", schedule=Interval(5), args=([1],))
    inner = entry.args[0]
    inner.append(inner)
    with pytest.raises(ValueError, match="Circular reference detected"):
        dumps_entry(entry)
    inner.pop()
    assert dumps_entry(entry) == dumps_entry(
        Entry(name="e", task="t", schedule=Interval(5), args=([1],))
    )


def test_a_record_without_the_optional_fields_reads_as_an_entry_with_their_defaults() -> None:
    record = '{"v": 1, "name": "e", "task": "t", "schedule": {"type": "interval", "every": 5}}'
    entry = loads_entry(record, "e")
    assert entry == Entry(name="e", task="t", schedule=Interval(5))
    other = loads_entry(record, "e")
    assert other.kwargs is not entry.kwargs and other.options is not entry.options
    nulls = (
        '{"v": 1, "name": "e", "task": "t", "schedule": {"type": "interval", "every": 5}, '
        '"kwargs": null, "options": null, "jitter": null, "enabled": null}'
    )
    # What Entry(...) makes of those values, as before the faster read.
    fields: dict[str, Any] = {"kwargs": None, "options": None, "jitter": None, "enabled": None}
    assert loads_entry(nulls, "e") == Entry(name="e", task="t", schedule=Interval(5), **fields)


def test_an_entry_name_that_is_not_valid_unicode_is_refused() -> None:
    with pytest.raises(InvalidEntry, match="is not valid Unicode text"):
        Entry(name="bad\udc80name", task="t", schedule=Interval(10))


def test_an_interval_too_long_for_a_timedelta_is_an_invalid_schedule() -> None:
    with pytest.raises(InvalidSchedule, match="is too long"):
        Interval(1e20)
    record = b'{"name":"huge","schedule":{"every":1e+20,"type":"interval"},"task":"t","v":1}'
    with pytest.raises(CorruptRecord, match=r"huge.*too long"):
        loads_entry(record, "huge")


def test_an_interval_past_the_last_representable_instant_has_no_next_run() -> None:
    every = Interval(timedelta(days=999_999_000))
    assert every.next_after(datetime(2026, 1, 1, tzinfo=UTC)) is None
    anchored = Interval(timedelta(days=3_000_000), anchor=datetime(2026, 1, 1, tzinfo=UTC))
    assert anchored.next_after(datetime(2027, 1, 1, tzinfo=UTC)) is None


def test_records_of_one_builtin_schedule_share_one_immutable_object() -> None:
    first = schedule_from_dict({"type": "crontab", "minute": "*/5", "hour": "9-17"})
    again = schedule_from_dict({"type": "crontab", "minute": "*/5", "hour": "9-17"})
    assert first is again and first == Crontab(minute="*/5", hour="9-17")
    assert schedule_from_dict({"type": "interval", "every": 1}) == Interval(1)
    # equal as keys, not as input: each is read (or refused) for what it is
    with pytest.raises(InvalidSchedule, match="got True"):
        schedule_from_dict({"type": "interval", "every": True})
    with pytest.raises(InvalidSchedule):
        schedule_from_dict({"type": "interval", "every": ["not", "hashable"]})
