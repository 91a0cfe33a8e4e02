"""Values an Entry, an EntryState or a schedule cannot use are refused when it is built
(issue 12 item 4), naming the field and the value; read from a store they are a CorruptRecord.

Before, ``Entry(jitter=nan)`` was accepted and ``save()`` raised a bare ValueError,
``misfire_grace=nan`` made every occurrence "later than misfire_grace=nans", and
``Entry(args={"a": 1})`` silently became ``('a',)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from beatcore import Clocked, Crontab, Entry, EntryState, Interval, Solar
from beatcore.entry import MAX_COUNT, MAX_SECONDS
from beatcore.errors import CorruptRecord, InvalidEntry, InvalidSchedule
from beatcore.serializer import dumps_entry, loads_entry
from beatcore.stores.memory import MemoryStore
from beatcore.timeutil import UTC
from beatcore.values import shown

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NAN, INF = float("nan"), float("inf")
HUGE = 10**400
#: Not even ``repr`` can write it (past sys.get_int_max_str_digits()).
ENORMOUS = 10**5000


def entry(**fields: Any) -> Entry:
    return Entry(**{"name": "e", "task": "t", "schedule": Interval(60), **fields})


@pytest.mark.parametrize("field", ["jitter", "misfire_grace"])
@pytest.mark.parametrize(
    "value",
    [NAN, INF, -INF, HUGE, ENORMOUS, MAX_SECONDS + 1, 1e300, -1, True, False, "5", [5]],
    ids=shown,
)
def test_seconds_fields_refuse_what_is_no_finite_timedelta(field: str, value: object) -> None:
    with pytest.raises(InvalidEntry) as info:
        entry(**{field: value})
    assert str(info.value) == (
        f"{field} of entry 'e' must be a number of seconds >= 0 and <= {MAX_SECONDS}, "
        f"got {shown(value)}"
    )


def test_seconds_fields_take_every_number_a_timedelta_holds() -> None:
    for value in (0, 0.0, 2.5, MAX_SECONDS, float(MAX_SECONDS)):
        made = entry(jitter=value, misfire_grace=value)
        assert loads_entry(dumps_entry(made), "e") == made
    assert entry(jitter=None).jitter == 0.0  # a record may hold null: no jitter
    assert entry(misfire_grace=None).misfire_grace is None


@pytest.mark.parametrize("value", [0, -1, MAX_COUNT + 1, HUGE, 2.0, NAN, INF, True, "3"])
def test_max_runs_is_a_positive_64_bit_integer(value: object) -> None:
    with pytest.raises(InvalidEntry) as info:
        entry(max_runs=value)
    assert str(info.value) == (
        f"max_runs of entry 'e' must be a positive integer (<= {MAX_COUNT}) or None, "
        f"got {shown(value)}"
    )
    assert entry(max_runs=MAX_COUNT).max_runs == MAX_COUNT


@pytest.mark.parametrize("field", ["total_run_count", "skipped_run_count"])
@pytest.mark.parametrize("value", [-1, MAX_COUNT + 1, HUGE, NAN, INF, 1.0, True, "3", None])
def test_state_counters_are_64_bit_integers_from_zero(field: str, value: object) -> None:
    with pytest.raises(InvalidEntry) as info:
        EntryState(**{field: value})
    assert str(info.value) == (
        f"state {field} must be an integer from 0 to {MAX_COUNT}, got {shown(value)}"
    )
    assert getattr(EntryState(**{field: MAX_COUNT}), field) == MAX_COUNT


@pytest.mark.parametrize("field", ["last_task_id", "last_error"])
def test_state_texts_are_strings(field: str) -> None:
    with pytest.raises(InvalidEntry, match=f"state {field} must be a string or None, got 7"):
        EntryState(**{field: 7})
    with pytest.raises(InvalidEntry, match=f"state {field} must be a string or None"):
        EntryState().evolve(**{field: ["a"]})


@pytest.mark.parametrize("field", ["next_run_at", "last_run_at", "triggered_at"])
def test_state_instants_are_aware_datetimes(field: str) -> None:
    with pytest.raises(InvalidEntry, match=f"state {field} must be an aware datetime or None"):
        EntryState(**{field: "2026-01-05T12:00:00+00:00"})
    with pytest.raises(InvalidEntry, match=f"state {field} must be an aware datetime"):
        EntryState(**{field: 1767614400})
    with pytest.raises(InvalidSchedule, match=f"state {field} must be a timezone-aware datetime"):
        EntryState(**{field: datetime(2026, 1, 5)})
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(InvalidSchedule, match="outside the instants a datetime can hold in UTC"):
        EntryState(**{field: early})


@pytest.mark.parametrize("field", ["start_at", "end_at"])
def test_entry_instants_are_aware_datetimes_named_by_field(field: str) -> None:
    with pytest.raises(InvalidEntry, match=f"{field} of entry 'e' must be an aware datetime"):
        entry(**{field: "2026-01-05"})
    with pytest.raises(InvalidSchedule, match=f"{field} of entry 'e' must be a timezone-aware"):
        entry(**{field: datetime(2026, 1, 5)})


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({"a": 1}, "dict {'a': 1}"),  # became ('a',)
        ({1, 2}, "set {1, 2}"),  # became (1, 2) in no fixed order
        ("ab", "str 'ab'"),  # a string is a sequence of its characters
        (b"ab", "bytes b'ab'"),
        (iter([1, 2]), "list_iterator <list_iterator object"),  # used up by the first read
        (5, "int 5"),
        (None, "NoneType None"),
    ],
)
def test_args_must_be_a_list_or_tuple(value: object, kind: str) -> None:
    with pytest.raises(InvalidEntry) as info:
        entry(args=value)
    assert str(info.value).startswith(f"args of entry 'e' must be a list or tuple, got {kind}")


def test_args_take_lists_tuples_and_other_sequences() -> None:
    assert entry(args=[1, "a"]).args == (1, "a")
    assert entry(args=range(3)).args == (0, 1, 2)
    assert entry(args=(None,)).args == (None,)


@pytest.mark.parametrize("field", ["kwargs", "options"])
@pytest.mark.parametrize(("value", "kind"), [([1], "list [1]"), ("a=1", "str 'a=1'"), (7, "int 7")])
def test_kwargs_and_options_must_be_mappings(field: str, value: object, kind: str) -> None:
    with pytest.raises(InvalidEntry) as info:
        entry(**{field: value})
    assert str(info.value) == f"{field} of entry 'e' must be a mapping, got {kind}"


@pytest.mark.parametrize("field", ["enabled", "static"])
@pytest.mark.parametrize("value", ["false", "no", 2, 0.0, [], NAN])
def test_flags_must_be_true_or_false(field: str, value: object) -> None:
    """bool("false") is True: such a value was silently read as the opposite."""
    with pytest.raises(InvalidEntry) as info:
        entry(**{field: value})
    assert str(info.value) == f"{field} of entry 'e' must be True or False, got {shown(value)}"
    assert getattr(entry(**{field: 1}), field) is True
    assert getattr(entry(**{field: 0}), field) is False


def test_tz_must_be_a_zone_name() -> None:
    with pytest.raises(InvalidEntry, match="tz of entry 'e' must be an IANA zone name"):
        entry(tz=5)  # was an AttributeError: 'int' object has no attribute 'upper'


@pytest.mark.parametrize("value", [NAN, INF, -INF, HUGE, ENORMOUS, 1e300, True, "60"], ids=shown)
def test_interval_refuses_what_is_no_finite_period(value: object) -> None:
    with pytest.raises(InvalidSchedule) as info:
        Interval(value)  # type: ignore[arg-type]
    assert "interval" in str(info.value)
    assert shown(value) in str(info.value)


def test_interval_anchor_must_be_an_aware_datetime() -> None:
    with pytest.raises(InvalidSchedule, match="interval anchor must be an aware datetime"):
        Interval(60, anchor="2026-01-05")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["lat", "lon"])
@pytest.mark.parametrize("value", [NAN, INF, -INF, HUGE, ENORMOUS, True, "52"], ids=shown)
def test_solar_coordinates_must_be_finite_degrees(field: str, value: object) -> None:
    where = {"lat": 52.5, "lon": 13.4, field: value}
    with pytest.raises(InvalidSchedule) as info:
        Solar("sunset", where["lat"], where["lon"])  # type: ignore[arg-type]
    assert "solar" in str(info.value)
    assert shown(value) in str(info.value)


@pytest.mark.parametrize("value", [HUGE, ENORMOUS, [1, ENORMOUS], True, [True], [1.5]], ids=shown)
def test_crontab_fields_refuse_huge_ints_bools_and_floats(value: object) -> None:
    with pytest.raises(InvalidSchedule, match="crontab field 'minute'"):
        Crontab(minute=value)  # type: ignore[arg-type]


def test_clocked_refuses_an_instant_outside_what_utc_holds() -> None:
    with pytest.raises(InvalidSchedule, match="outside the instants a datetime can hold"):
        Clocked(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def _record(**fields: Any) -> str:
    data: dict[str, Any] = {
        "v": 1,
        "name": "e",
        "task": "t",
        "schedule": {"type": "interval", "every": 60},
        **fields,
    }
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (_record(jitter=NAN), "jitter of entry 'e' must be a number of seconds >= 0"),
        (_record(jitter=INF), "jitter of entry 'e' must be a number of seconds >= 0"),
        (_record().replace('"every": 60', '"every": 1e400'), "interval must be a finite"),
        (_record(misfire_grace=NAN), "misfire_grace of entry 'e' must be a number"),
        (_record(misfire_grace=HUGE), "misfire_grace of entry 'e' must be a number"),
        (_record(max_runs=1e400), "max_runs of entry 'e' must be a positive integer"),
        (_record(args={"a": 1}), "args of entry 'e' must be a list or tuple, got dict"),
        (_record(kwargs={"x": NAN}), "kwargs of entry 'e' must be JSON-serializable: nan"),
        (_record(enabled="false"), "enabled of entry 'e' must be True or False, got 'false'"),
        (_record(schedule={"type": "solar", "event": "sunset", "lat": NAN, "lon": 0}), "solar"),
    ],
)
def test_a_stored_record_holding_such_a_value_is_a_corrupt_record(text: str, cause: str) -> None:
    """The serializer turns what the validators raise (InvalidEntry, InvalidSchedule: both
    BeatcoreError) into a CorruptRecord naming the entry, which stores report and keep."""
    with pytest.raises(CorruptRecord) as info:
        loads_entry(text, "e")
    assert info.value.name == "e"
    assert cause in info.value.cause


def _refusals() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "jitter", {"jitter": NAN}
    yield "jitter", {"jitter": INF}
    yield "misfire_grace", {"misfire_grace": NAN}
    yield "args", {"args": {"a": 1}}


@pytest.mark.parametrize(("field", "fields"), list(_refusals()))
def test_issue_12_cases_never_reach_save(field: str, fields: dict[str, Any]) -> None:
    """The three cases of the issue fail where the Entry is built, naming field and value;
    before, jitter=nan and jitter=inf failed inside save() with a bare ValueError or
    OverflowError, and the others were stored."""
    store = MemoryStore(f"values-{field}-{id(fields)}")
    with pytest.raises(InvalidEntry, match=f"^{field} of entry 'e' must be"):
        store.save(entry(**fields))
    assert list(store.entries()) == []


def test_a_jitter_past_the_last_instant_is_due_at_the_last_instant() -> None:
    """The largest jitter an Entry takes (what a timedelta holds) never overflows a tick."""
    from beatcore import timing

    late = datetime(9999, 12, 31, tzinfo=UTC)
    huge = entry(jitter=MAX_SECONDS)
    assert timing.due_at(huge, late) == datetime.max.replace(tzinfo=UTC)
    assert timing.state_due_at(huge, EntryState(next_run_at=late)) is not None
