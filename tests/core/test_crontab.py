"""Crontab: parsing, validation, encoding, and DST-correct next_after against a brute force."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab as celery_crontab
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beatcore.errors import InvalidSchedule
from beatcore.schedules.crontab import Crontab
from beatcore.timing import task_id

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def fires(schedule: Crontab, start: datetime, until: datetime) -> list[datetime]:
    """Return every occurrence after ``start`` up to ``until``, by chaining next_after."""
    found: list[datetime] = []
    current = schedule.next_after(start)
    while current is not None and current <= until:
        found.append(current)
        current = schedule.next_after(current)
    return found


# --- parsing -------------------------------------------------------------------------------


def test_fields_are_normalised_to_sorted_values() -> None:
    cron = Crontab("*/15 9-17/4 1,15 JAN,jul mon-FRI")
    assert cron.minutes == (0, 15, 30, 45)
    assert cron.hours == (9, 13, 17)
    assert cron.days_of_month == (1, 15)
    assert cron.months_of_year == (1, 7)
    assert cron.days_of_week == (1, 2, 3, 4, 5)


def test_star_and_question_mark_select_everything() -> None:
    cron = Crontab("? * ? * ?")
    assert cron.minutes == tuple(range(60))
    assert cron.days_of_month == tuple(range(1, 32))
    assert cron.days_of_week == tuple(range(7))
    assert cron == Crontab()


def test_start_with_step_runs_to_the_end_of_the_field() -> None:
    assert Crontab("5/20 * * * *").minutes == (5, 25, 45)
    assert Crontab("* 20/2 * * *").hours == (20, 22)


def test_seven_and_zero_are_both_sunday() -> None:
    assert Crontab(day_of_week="7") == Crontab(day_of_week="0") == Crontab(day_of_week="sun")
    assert Crontab(day_of_week="5-7").days_of_week == (0, 5, 6)
    assert Crontab(day_of_week="1-7/2").days_of_week == (0, 1, 3, 5)


def test_names_are_case_insensitive_and_may_be_spelled_out() -> None:
    assert Crontab(month_of_year="Jan-MAR").months_of_year == (1, 2, 3)
    assert Crontab(month_of_year="september").months_of_year == (9,)
    assert Crontab(day_of_week="Tues,thursday").days_of_week == (2, 4)


def test_ranges_wrap_around_like_celery() -> None:
    assert Crontab(day_of_week="fri-mon").days_of_week == (0, 1, 5, 6)
    assert Crontab(hour="22-2").hours == (0, 1, 2, 22, 23)
    assert Crontab("0 7-5 * * *").hours == (*range(6), *range(7, 24))
    assert Crontab("0 4 7-5 * *").days_of_month == (*range(1, 6), *range(7, 32))
    assert Crontab("0 4 1 JUL-MAY *").months_of_year == (1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12)
    assert Crontab("0 4 1 11-2 *").months_of_year == (1, 2, 11, 12)
    assert Crontab("0 22-2/2 * * *").hours == (0, 2, 22)
    assert Crontab(day_of_week="7-2").days_of_week == (0, 1, 2)
    assert Crontab(day_of_week="6-7").days_of_week == (0, 6)


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("hour", "7-5"),
        ("hour", "22-2/2"),
        ("day_of_month", "7-5"),
        ("day_of_month", "28-3/2"),
        ("month_of_year", "11-2"),
        ("month_of_year", "jul-may"),
        ("day_of_week", "fri-mon"),
        ("day_of_week", "5-1/2"),
    ],
)
def test_wrapping_ranges_select_what_celery_selects(field: str, text: str) -> None:
    ours = Crontab(**{field: text})  # type: ignore[arg-type]
    celery = celery_crontab(**{field: text})  # type: ignore[arg-type,unused-ignore]
    attribute = {
        "hour": "hours",
        "day_of_month": "days_of_month",
        "month_of_year": "months_of_year",
        "day_of_week": "days_of_week",
    }[field]
    assert set(getattr(ours, attribute)) == getattr(celery, field)


def test_ints_and_iterables_are_accepted() -> None:
    cron = Crontab(minute=0, hour=[1, 13], day_of_week=range(1, 6))
    assert cron == Crontab("0 1,13 * * 1-5")
    assert cron.to_dict()["hour"] == "1,13"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"minute": "*/15"},
        {"minute": 0, "hour": 7, "day_of_week": "mon-fri"},
        {"minute": [0, 30], "hour": range(9, 18), "month_of_year": "1-6"},
        {"minute": "0", "hour": "*/3", "day_of_month": "1,15", "day_of_week": "sat,sun"},
    ],
)
def test_celery_crontab_original_fields_are_accepted(kwargs: dict[str, object]) -> None:
    celery = celery_crontab(**kwargs)  # type: ignore[arg-type,unused-ignore]
    cron = Crontab(
        minute=celery._orig_minute,
        hour=celery._orig_hour,
        day_of_week=celery._orig_day_of_week,
        day_of_month=celery._orig_day_of_month,
        month_of_year=celery._orig_month_of_year,
    )
    assert set(cron.minutes) == celery.minute
    assert set(cron.hours) == celery.hour
    assert set(cron.days_of_month) == celery.day_of_month
    assert set(cron.months_of_year) == celery.month_of_year
    assert set(cron.days_of_week) == celery.day_of_week


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "field", "bad"),
    [
        ("* 25 * * *", "hour", "25"),
        ("60 * * * *", "minute", "60"),
        ("* * 0 * *", "day_of_month", "0"),
        ("* * 32 * *", "day_of_month", "32"),
        ("* * * 13 *", "month_of_year", "13"),
        ("* * * * 8", "day_of_week", "8"),
        ("* * * * funday", "day_of_week", "funday"),
        ("* * * foo *", "month_of_year", "foo"),
        ("* * * * jan", "day_of_week", "jan"),
        ("*/0 * * * *", "minute", "'0'"),
        ("*/x * * * *", "minute", "'x'"),
        ("1-x * * * *", "minute", "'x'"),
        ("1,,2 * * * *", "minute", "empty"),
        ("-5 * * * *", "minute", "'-5'"),
        ("1- * * * *", "minute", "'1-'"),
        ("1.5 * * * *", "minute", "'1.5'"),
        ("\u00b2 * * * *", "minute", "'\u00b2'"),
        ("*/\u00b2 * * * *", "minute", "'\u00b2'"),
    ],
)
def test_bad_fields_are_refused_naming_field_and_value(
    expression: str, field: str, bad: str
) -> None:
    with pytest.raises(InvalidSchedule) as info:
        Crontab(expression)
    message = str(info.value)
    assert f"'{field}'" in message
    assert bad in message
    assert expression in message


def test_out_of_range_message_reads_well() -> None:
    with pytest.raises(InvalidSchedule) as info:
        Crontab("* 25 * * *")
    assert str(info.value) == (
        "crontab field 'hour' has value 25 out of range 0-23 in '* 25 * * *'"
    )


def test_bad_per_field_argument_names_the_field() -> None:
    with pytest.raises(InvalidSchedule, match="'hour' has value 24 out of range 0-23"):
        Crontab(hour=24)
    with pytest.raises(InvalidSchedule, match="'minute'"):
        Crontab(minute=[1, 2.5])  # type: ignore[list-item]
    with pytest.raises(InvalidSchedule, match="'minute'"):
        Crontab(minute=True)
    with pytest.raises(InvalidSchedule, match="'hour' is empty"):
        Crontab(hour=[])


@pytest.mark.parametrize(
    "expression", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 feb *", "0 0 31 2-2 *"]
)
def test_dates_that_never_happen_are_refused(expression: str) -> None:
    with pytest.raises(InvalidSchedule, match="never occurs"):
        Crontab(expression)


@pytest.mark.parametrize("expression", ["0 0 29 2 *", "0 0 31 2,3 *", "0 0 30 * *"])
def test_dates_that_happen_sometimes_are_accepted(expression: str) -> None:
    Crontab(expression)


def test_shape_errors() -> None:
    with pytest.raises(InvalidSchedule, match="5 fields"):
        Crontab("* * * *")
    with pytest.raises(InvalidSchedule, match="5 fields"):
        Crontab("0 * * * * *")
    with pytest.raises(InvalidSchedule, match="either an expression or per-field"):
        Crontab("* * * * *", hour=3)
    with pytest.raises(InvalidSchedule, match="unknown time zone 'Mars/Base'"):
        Crontab("* * * * *", tz="Mars/Base")
    with pytest.raises(InvalidSchedule, match="naive"):
        Crontab().next_after(datetime(2026, 1, 1))


# --- encoding and description --------------------------------------------------------------


@pytest.mark.parametrize(
    "cron",
    [
        Crontab(),
        Crontab("30 2 * * MON-FRI", tz="Europe/Berlin"),
        Crontab("*/5 9-17 1,15 jan-jun 1-5"),
        Crontab(minute=[0, 30], hour=range(1, 4), day_of_week="sat,sun", tz="Asia/Kolkata"),
    ],
)
def test_round_trip_through_json(cron: Crontab) -> None:
    data = json.loads(json.dumps(cron.to_dict()))
    again = Crontab.from_dict(data)
    assert again == cron
    assert hash(again) == hash(cron)
    assert again.to_dict() == cron.to_dict()


def test_to_dict_keeps_the_text_as_given() -> None:
    assert Crontab("30 2 * * MON-FRI", tz="Europe/Berlin").to_dict() == {
        "minute": "30",
        "hour": "2",
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "MON-FRI",
        "tz": "Europe/Berlin",
    }


def test_equality_is_by_value() -> None:
    assert Crontab("0-59 * * * *") == Crontab("* * * * *")
    assert Crontab("0 1 * * *") != Crontab("0 1 * * *", tz="UTC")
    assert len({Crontab("0 1 * * 7"), Crontab(minute=0, hour=1, day_of_week=0)}) == 1


def test_from_dict_refuses_unknown_fields() -> None:
    with pytest.raises(InvalidSchedule, match="hours"):
        Crontab.from_dict({"minute": "0", "hours": "3"})
    assert Crontab.from_dict({"minute": "0"}) == Crontab("0 * * * *")


@pytest.mark.parametrize(
    ("cron", "text"),
    [
        (Crontab("30 2 * * 1-5", tz="Europe/Berlin"), "at 02:30 Mon-Fri (Europe/Berlin)"),
        (Crontab("0 14 * * *"), "at 14:00 every day"),
        (Crontab("5 7 * * sat,sun,wed"), "at 07:05 Wed,Sat-Sun"),
        (Crontab("*/15 * * * *", tz="UTC"), "cron '*/15 * * * *' (UTC)"),
        (Crontab("30 2 1 * 1-5", tz="Europe/Berlin"), "cron '30 2 1 * 1-5' (Europe/Berlin)"),
    ],
)
def test_describe(cron: Crontab, text: str) -> None:
    assert cron.describe() == text


def test_repr_shows_the_expression() -> None:
    assert repr(Crontab(minute=0, hour=3, tz="UTC")) == "Crontab('0 3 * * *', tz='UTC')"


# --- next_after ----------------------------------------------------------------------------


def test_result_is_utc_and_strictly_after() -> None:
    cron = Crontab("0 * * * *")
    assert cron.next_after(utc(2026, 1, 1, 10)) == utc(2026, 1, 1, 11)
    assert cron.next_after(utc(2026, 1, 1, 10, 59, 59, 999999)) == utc(2026, 1, 1, 11)
    result = cron.next_after(datetime(2026, 1, 1, 10, 30, tzinfo=BERLIN))
    assert result == utc(2026, 1, 1, 10)
    assert result is not None and result.tzinfo is UTC


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    # Friday the 13th: 2026-02-13 and 2026-03-13 are Fridays; no 13th in between is.
    cron = Crontab("0 0 13 * FRI", tz="UTC")
    assert fires(cron, utc(2026, 1, 1), utc(2026, 12, 31)) == [
        utc(2026, 2, 13),
        utc(2026, 3, 13),
        utc(2026, 11, 13),
    ]


def test_without_tz_the_zone_of_dt_is_used() -> None:
    cron = Crontab("0 9 * * *")
    assert cron.next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 9)
    assert cron.next_after(datetime(2026, 1, 1, tzinfo=BERLIN)) == utc(2026, 1, 1, 8)
    kolkata = datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert cron.next_after(kolkata) == utc(2026, 1, 1, 3, 30)


def test_rare_dates_are_found_far_ahead_and_the_search_is_bounded() -> None:
    leap_monday = Crontab("0 0 29 2 1", tz="UTC")
    assert leap_monday.next_after(utc(2026, 1, 1)) == utc(2044, 2, 29)
    # After 2072 the next Monday 29 February is in 2112, past the 30-year horizon.
    assert leap_monday.next_after(utc(2072, 3, 1)) is None
    assert Crontab("0 0 * * *").next_after(datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) is None


def test_berlin_spring_forward_fires_once_at_the_end_of_the_gap() -> None:
    cron = Crontab("30 2 * * *", tz="Europe/Berlin")
    # 2026-03-29: clocks go from 02:00 CET to 03:00 CEST (01:00 UTC); 02:30 does not exist.
    assert fires(cron, utc(2026, 3, 28, 12), utc(2026, 3, 30, 12)) == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0, 30),
    ]


def test_wildcard_hour_times_inside_a_gap_do_not_fire() -> None:
    cron = Crontab("*/15 * * * *", tz="Europe/Berlin")
    assert fires(cron, utc(2026, 3, 29, 0, 40), utc(2026, 3, 29, 1, 20)) == [
        utc(2026, 3, 29, 0, 45),  # 01:45 CET
        utc(2026, 3, 29, 1),  # 03:00 CEST: the clock never shows 02:00-02:45
        utc(2026, 3, 29, 1, 15),
    ]


def test_fixed_hour_times_inside_a_gap_fire_once_at_its_end() -> None:
    cron = Crontab("*/15 2 * * *", tz="Europe/Berlin")
    assert fires(cron, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == [
        utc(2026, 3, 29, 1),  # 02:00, 02:15, 02:30 and 02:45 merged at 03:00 CEST
    ]


def test_berlin_fall_back_fires_at_the_first_occurrence_only() -> None:
    cron = Crontab("30 2 * * *", tz="Europe/Berlin")
    # 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    assert fires(cron, utc(2026, 10, 24, 12), utc(2026, 10, 26, 12)) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]
    # Asked during the second 02:xx hour, the repeated 02:30 is not due again.
    assert cron.next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30)


def test_every_quarter_hour_across_fall_back_runs_both_passes() -> None:
    cron = Crontab("*/15 * * * *", tz="Europe/Berlin")
    found = fires(cron, utc(2026, 10, 24, 23, 50), utc(2026, 10, 25, 2, 15))
    assert found == [utc(2026, 10, 25, 0) + timedelta(minutes=15 * n) for n in range(10)]
    # 02:00-02:45 CEST, then 02:00-02:45 CET again, then 03:00 CET
    walls = [instant.astimezone(BERLIN).strftime("%H:%M %Z") for instant in found]
    assert walls[:4] == ["02:00 CEST", "02:15 CEST", "02:30 CEST", "02:45 CEST"]
    assert walls[4:] == [
        "02:00 CET",
        "02:15 CET",
        "02:30 CET",
        "02:45 CET",
        "03:00 CET",
        "03:15 CET",
    ]
    # Asked during the second pass, the next run is the next quarter of that pass.
    assert cron.next_after(utc(2026, 10, 25, 1, 5)) == utc(2026, 10, 25, 1, 15)
    # Asked during the first pass, after its last quarter: the repeated 02:00 comes next.
    assert cron.next_after(utc(2026, 10, 25, 0, 50)) == utc(2026, 10, 25, 1)


def test_fixed_hour_quarter_hours_across_fall_back_fire_the_first_pass_only() -> None:
    cron = Crontab("*/15 2 * * *", tz="Europe/Berlin")
    assert fires(cron, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == [
        utc(2026, 10, 25, 0) + timedelta(minutes=15 * n) for n in range(4)
    ]


def test_new_york_hourly_runs_both_one_oclocks_with_distinct_task_ids() -> None:
    cron = Crontab("0 * * * *", tz="America/New_York")
    # 2026-11-01 02:00 EDT -> 01:00 EST at 06:00 UTC: 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST.
    found = fires(cron, utc(2026, 11, 1, 3, 30), utc(2026, 11, 1, 7))
    assert found == [
        utc(2026, 11, 1, 4),
        utc(2026, 11, 1, 5),
        utc(2026, 11, 1, 6),
        utc(2026, 11, 1, 7),
    ]
    assert len({task_id("hourly", instant) for instant in found}) == 4
    half = Crontab("*/30 * * * *", tz="America/New_York")
    found = fires(half, utc(2026, 11, 1, 4, 50), utc(2026, 11, 1, 7))
    assert [b - a for a, b in itertools.pairwise(found)] == [timedelta(minutes=30)] * 4
    # 2026-03-08 02:00 EST -> 03:00 EDT at 07:00 UTC: 02:00 and 02:30 are never shown.
    assert fires(half, utc(2026, 3, 8, 6), utc(2026, 3, 8, 8)) == [
        utc(2026, 3, 8, 6, 30),
        utc(2026, 3, 8, 7),
        utc(2026, 3, 8, 7, 30),
        utc(2026, 3, 8, 8),
    ]


def test_new_york() -> None:
    spring = Crontab("30 2 * * *", tz="America/New_York")
    # 2026-03-08 02:00 EST -> 03:00 EDT at 07:00 UTC.
    assert spring.next_after(utc(2026, 3, 8)) == utc(2026, 3, 8, 7)
    assert spring.next_after(utc(2026, 3, 8, 7)) == utc(2026, 3, 9, 6, 30)
    fall = Crontab("30 1 * * *", tz="America/New_York")
    # 2026-11-01 02:00 EDT -> 01:00 EST at 06:00 UTC; 01:30 EDT is 05:30 UTC.
    assert fires(fall, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12)) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]


def test_lord_howe_half_hour_shift() -> None:
    # 2026-04-05 02:00 (+11) -> 01:30 (+10:30): 01:30-01:59 happen twice.
    fall = Crontab("45 1 * * *", tz="Australia/Lord_Howe")
    assert fires(fall, utc(2026, 4, 4, 0), utc(2026, 4, 6, 0)) == [
        utc(2026, 4, 4, 14, 45),
        utc(2026, 4, 5, 15, 15),
    ]
    # 2026-10-04 02:00 (+10:30) -> 02:30 (+11) at 15:30 UTC: 02:15 does not exist.
    spring = Crontab("15 2 * * *", tz="Australia/Lord_Howe")
    assert fires(spring, utc(2026, 10, 3, 0), utc(2026, 10, 5, 0)) == [
        utc(2026, 10, 3, 15, 30),
        utc(2026, 10, 4, 15, 15),
    ]
    every_ten = Crontab("*/10 2 * * *", tz="Australia/Lord_Howe")
    assert fires(every_ten, utc(2026, 10, 3, 15), utc(2026, 10, 3, 16)) == [
        utc(2026, 10, 3, 15, 30),  # 02:00, 02:10, 02:20 merged, then 02:30 is the same instant
        utc(2026, 10, 3, 15, 40),
        utc(2026, 10, 3, 15, 50),
    ]


def test_kolkata_half_hour_offset() -> None:
    cron = Crontab("0 9 * * MON", tz="Asia/Kolkata")
    # 2026-01-05 is a Monday; 09:00 IST is 03:30 UTC.
    assert cron.next_after(utc(2026, 1, 1)) == utc(2026, 1, 5, 3, 30)
    assert cron.next_after(utc(2026, 1, 5, 3, 30)) == utc(2026, 1, 12, 3, 30)


# --- property: next_after against a brute-force walk over UTC minutes ---------------------

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
RANGE_START = utc(2024, 1, 1)
RANGE_END = utc(2030, 12, 24)


def _transitions(name: str) -> list[datetime]:
    """Return the UTC instants in 2024-2030 at which the zone's offset changes."""
    tz = ZoneInfo(name)
    found = []
    step = timedelta(minutes=30)
    instant = RANGE_START
    before = instant.astimezone(tz).utcoffset()
    while instant < RANGE_END:
        instant += step
        offset = instant.astimezone(tz).utcoffset()
        if offset != before:
            found.append(instant)
        before = offset
    return found


TRANSITIONS = {name: _transitions(name) for name in ZONES}

# A field is a list of items; each item is (text, values) with values worked out here from
# the plain meaning of cron syntax, independently of the parser under test.
Item = tuple[str, frozenset[int]]


def _items(
    low: int, high: int, star_high: int, favourites: tuple[int, ...]
) -> st.SearchStrategy[Item]:
    # Favourite values (the hours DST moves, round minutes) make gap and fold cases common.
    value = st.one_of(st.integers(low, high), st.sampled_from(favourites or (low,)))
    star = st.sampled_from(["*", "?"]).map(lambda s: (s, frozenset(range(low, star_high + 1))))
    single = value.map(lambda v: (str(v), frozenset([v])))
    ranged = (
        st.tuples(value, value)
        .map(sorted)
        .map(lambda ab: (f"{ab[0]}-{ab[1]}", frozenset(range(ab[0], ab[1] + 1))))
    )
    step = st.integers(1, star_high - low + 1).map(
        lambda n: (f"*/{n}", frozenset(range(low, star_high + 1, n)))
    )
    ranged_step = st.tuples(value, value, st.integers(1, 12)).map(
        lambda abn: (
            f"{min(abn[:2])}-{max(abn[:2])}/{abn[2]}",
            frozenset(range(min(abn[:2]), max(abn[:2]) + 1, abn[2])),
        )
    )
    start_step = st.tuples(st.integers(low, star_high), st.integers(1, 12)).map(
        lambda an: (f"{an[0]}/{an[1]}", frozenset(range(an[0], star_high + 1, an[1])))
    )
    return st.one_of(single, star, ranged, step, ranged_step, start_step, single)


def _field(
    low: int, high: int, star_high: int | None = None, favourites: tuple[int, ...] = ()
) -> st.SearchStrategy[Item]:
    top = high if star_high is None else star_high
    items = st.lists(_items(low, high, top, favourites), min_size=1, max_size=3)
    return items.map(
        lambda parts: (",".join(t for t, _ in parts), frozenset().union(*(v for _, v in parts)))
    )


MINUTES = _field(0, 59, favourites=(0, 10, 15, 30, 45))
HOURS = _field(0, 23, favourites=(2, 2, 2, 1, 3))
WEEKDAYS = _field(0, 7, star_high=6).map(
    lambda item: (item[0], frozenset(0 if v == 7 else v for v in item[1]))
)


@st.composite
def instants(draw: st.DrawFn, zone_name: str) -> datetime:
    """An aware instant in 2024-2030, most often within six hours of a DST transition."""
    transitions = TRANSITIONS[zone_name]
    shift = draw(
        st.one_of(
            st.integers(-360, 360).map(lambda m: timedelta(minutes=m)),
            st.integers(-150, 30).map(lambda m: timedelta(minutes=m)),
            st.integers(-6 * 3600, 6 * 3600).map(lambda s: timedelta(seconds=s)),
        )
    )
    if transitions and draw(st.integers(0, 3)) > 0:
        return draw(st.sampled_from(transitions)) + shift
    seconds = draw(st.integers(0, int((RANGE_END - RANGE_START).total_seconds())))
    return RANGE_START + timedelta(seconds=seconds)


def reference_next(
    dt: datetime,
    tz: ZoneInfo,
    minutes: Iterable[int],
    hours: Iterable[int],
    weekdays: Iterable[int],
    bound: timedelta,
    real_time: bool = False,
) -> datetime | None:
    """Walk UTC minutes after ``dt``; return the first one that is a fire instant.

    A wildcard-hour job (``real_time``) fires at every minute whose local wall time matches.
    Otherwise a minute fires when its local wall time matches and is that wall time's first
    occurrence (fold 0), or when it is the first minute after a DST gap that swallowed a
    matching wall time.
    """
    minute_set, hour_set, weekday_set = set(minutes), set(hours), set(weekdays)

    def matches(wall: datetime) -> bool:
        return (
            wall.minute in minute_set
            and wall.hour in hour_set
            and (wall.weekday() + 1) % 7 in weekday_set
        )

    one = timedelta(minutes=1)
    instant = dt.astimezone(UTC).replace(second=0, microsecond=0) + one
    previous = (instant - one).astimezone(tz)
    while instant <= dt + bound:
        local = instant.astimezone(tz)
        if real_time:
            if matches(local):
                return instant
        elif local.fold == 0 and matches(local):
            return instant
        elif local.utcoffset() > previous.utcoffset():  # type: ignore[operator]
            wall = previous.replace(tzinfo=None) + one
            while wall < local.replace(tzinfo=None):
                if matches(wall):
                    return instant
                wall += one
        previous = local
        instant += one
    return None


def _check(
    zone_name: str,
    dt: datetime,
    own_tz: bool,
    minute: Item,
    hour: Item,
    weekday: Item,
    bound: timedelta,
) -> None:
    tz = ZoneInfo(zone_name)
    expression = f"{minute[0]} {hour[0]} * * {weekday[0]}"
    if own_tz:
        cron, asked = Crontab(expression, tz=zone_name), dt.astimezone(UTC)
    else:
        cron, asked = Crontab(expression), dt.astimezone(tz)
    real_time = re.fullmatch(r"[*?](/[0-9]+)?", hour[0]) is not None
    expected = reference_next(dt, tz, minute[1], hour[1], weekday[1], bound, real_time)
    assert expected is not None, "the generated expression must fire within the bound"
    actual = cron.next_after(asked)
    assert actual == expected, (expression, zone_name, dt, actual, expected)
    assert actual is not None and actual.tzinfo is UTC


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=st.data(), zone_name=st.sampled_from(ZONES), own_tz=st.booleans())
def test_next_after_matches_brute_force_for_time_of_day_fields(
    data: st.DataObject, zone_name: str, own_tz: bool
) -> None:
    dt = data.draw(instants(zone_name), label="dt")
    minute = data.draw(MINUTES, label="minute")
    hour = data.draw(HOURS, label="hour")
    _check(zone_name, dt, own_tz, minute, hour, ("*", frozenset(range(7))), timedelta(days=3))


@PROPERTY
@given(data=st.data(), zone_name=st.sampled_from(ZONES), own_tz=st.booleans())
def test_next_after_matches_brute_force_with_weekdays(
    data: st.DataObject, zone_name: str, own_tz: bool
) -> None:
    dt = data.draw(instants(zone_name), label="dt")
    minute = data.draw(MINUTES, label="minute")
    hour = data.draw(HOURS, label="hour")
    weekday = data.draw(WEEKDAYS, label="day_of_week")
    _check(zone_name, dt, own_tz, minute, hour, weekday, timedelta(days=8))


DST_ZONES = [name for name in ZONES if TRANSITIONS[name]]
DST_HOURS = st.lists(st.sampled_from([0, 1, 2, 3]), min_size=1, max_size=2).map(
    lambda hours: (",".join(map(str, hours)), frozenset(hours))
)


@PROPERTY
@given(data=st.data(), zone_name=st.sampled_from(DST_ZONES), own_tz=st.booleans())
def test_next_after_matches_brute_force_right_around_transitions(
    data: st.DataObject, zone_name: str, own_tz: bool
) -> None:
    transition = data.draw(st.sampled_from(TRANSITIONS[zone_name]), label="transition")
    shift = data.draw(st.integers(-150 * 60, 90 * 60), label="shift_seconds")
    dt = transition + timedelta(seconds=shift)
    minute = data.draw(MINUTES, label="minute")
    hour = data.draw(DST_HOURS, label="hour")
    _check(zone_name, dt, own_tz, minute, hour, ("*", frozenset(range(7))), timedelta(days=3))
