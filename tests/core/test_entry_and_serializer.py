"""Entry validation and the versioned serializer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from beatcore import Clocked, Crontab, Entry, EntryState, Interval, InvalidEntry, InvalidSchedule
from beatcore.errors import CorruptRecord
from beatcore.serializer import (
    FORMAT_VERSION,
    dumps_entry,
    dumps_state,
    loads_entry,
    loads_state,
)
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "entry name must be a non-empty string"),
        ({"task": " "}, "task of entry 'e' must be a non-empty task name"),
        ({"catch_up": "sometimes"}, "catch_up of entry 'e' must be one of latest, all, skip"),
        ({"jitter": -1}, "jitter of entry 'e' must be a number of seconds >= 0, got -1"),
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
