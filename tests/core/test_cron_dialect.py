"""The cron dialect of crontab files: macros, L, W, #, and classic cron's either-day rule."""

from __future__ import annotations

import calendar
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from beatcore.errors import InvalidSchedule
from beatcore.schedules import Crontab
from beatcore.serializer import schedule_from_dict, schedule_to_dict

UTC = timezone.utc


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def days(cron: Crontab, start: datetime, count: int) -> list[date]:
    found: list[date] = []
    current: datetime | None = start
    while len(found) < count:
        assert current is not None
        current = cron.next_after(current)
        assert current is not None
        found.append(current.date())
    return found


@pytest.mark.parametrize(
    ("macro", "fields"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
    ],
)
def test_macros_are_their_five_fields(macro: str, fields: str) -> None:
    assert Crontab(macro) == Crontab(fields)
    assert Crontab(macro).expression == fields


def test_hourly_macro_is_a_wildcard_hour_job_and_daily_is_not() -> None:
    assert Crontab("@hourly").real_time
    assert not Crontab("@daily").real_time
    assert Crontab("*/2 * * * *").real_time and Crontab("0 */3 * * *").real_time
    assert not Crontab("0 0-23 * * *").real_time and not Crontab("0 1,2 * * *").real_time


def test_last_day_of_month() -> None:
    cron = Crontab("0 0 L * *", tz="UTC")
    assert days(cron, utc(2028, 1, 5), 3) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]
    assert days(Crontab("0 0 1,L * *"), utc(2026, 4, 2), 3) == [
        date(2026, 4, 30),
        date(2026, 5, 1),
        date(2026, 5, 31),
    ]


def test_nearest_weekday() -> None:
    # 2026-02-15 is a Sunday: Monday the 16th. 2026-08-01 is a Saturday: Monday the 3rd
    # (Friday would be in July). 2026-05-31 is a Sunday: Friday the 29th.
    assert days(Crontab("0 0 15W 2 *"), utc(2026, 1, 1), 1) == [date(2026, 2, 16)]
    assert days(Crontab("0 0 1W 8 *"), utc(2026, 1, 1), 1) == [date(2026, 8, 3)]
    assert days(Crontab("0 0 31W 5 *"), utc(2026, 1, 1), 1) == [date(2026, 5, 29)]
    assert days(Crontab("0 0 LW * *"), utc(2026, 5, 1), 2) == [date(2026, 5, 29), date(2026, 6, 30)]
    # A 30W does not happen in February.
    assert date(2027, 2, 26) not in days(Crontab("0 0 30W * *"), utc(2027, 1, 1), 3)


def test_last_and_nth_weekday() -> None:
    assert days(Crontab("0 17 * * FRIL"), utc(2026, 1, 1), 2) == [
        date(2026, 1, 30),
        date(2026, 2, 27),
    ]
    assert Crontab("0 17 * * 5L") == Crontab("0 17 * * fril")
    assert days(Crontab("0 9 * * FRI#2"), utc(2026, 1, 1), 2) == [
        date(2026, 1, 9),
        date(2026, 2, 13),
    ]
    assert days(Crontab("0 9 * * 0#5"), utc(2026, 1, 1), 2) == [
        date(2026, 3, 29),
        date(2026, 5, 31),
    ]
    assert Crontab("0 9 * * 7#1") == Crontab("0 9 * * SUN#1")


def test_day_match_both_is_celerys_rule_and_either_is_classic_cron() -> None:
    both = Crontab("0 0 13 * FRI")
    either = Crontab("0 0 13 * FRI", day_match="either")
    assert days(both, utc(2026, 1, 1), 2) == [date(2026, 2, 13), date(2026, 3, 13)]
    assert days(either, utc(2026, 1, 1), 4) == [
        date(2026, 1, 2),
        date(2026, 1, 9),
        date(2026, 1, 13),
        date(2026, 1, 16),
    ]
    assert both != either
    # A day field starting with * is not restricted: either then means the same as both.
    star = Crontab("0 0 */2 * FRI", day_match="either")
    assert days(star, utc(2026, 1, 1), 2) == days(Crontab("0 0 */2 * FRI"), utc(2026, 1, 1), 2)
    # Under either, a day of month that never occurs is no error: the weekdays still run.
    assert Crontab("0 0 30 2 MON", day_match="either").next_after(utc(2026, 1, 1)) == utc(
        2026, 2, 2
    )


def test_either_round_trips_and_old_records_read_identically() -> None:
    either = Crontab("0 0 13 * FRI", tz="Europe/Paris", day_match="either")
    data = schedule_to_dict(either)
    assert data["day_match"] == "either"
    assert schedule_from_dict(json.loads(json.dumps(data))) == either
    plain = Crontab("0 0 13 * FRI")
    old_record = {
        "type": "crontab",
        "minute": "0",
        "hour": "0",
        "day_of_month": "13",
        "month_of_year": "*",
        "day_of_week": "FRI",
        "tz": None,
    }
    assert schedule_to_dict(plain) == old_record
    assert schedule_from_dict(old_record) == plain
    assert repr(either) == "Crontab('0 0 13 * FRI', tz='Europe/Paris', day_match='either')"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"expression": "@reboot"}, ["'@reboot'", "@yearly"]),
        ({"expression": "0 0 * * L"}, ["'day_of_week'", "'L'", "FRIL"]),
        ({"expression": "0 0 * * FRI#6"}, ["'day_of_week'", "'FRI#6'", "1-5"]),
        ({"expression": "0 0 * * FRI#0"}, ["'day_of_week'", "'FRI#0'"]),
        ({"expression": "0 0 * * FUN#2"}, ["'day_of_week'", "'FUN'"]),
        ({"expression": "0 0 32W * *"}, ["'day_of_month'", "32"]),
        ({"expression": "0 0 * * 9L"}, ["'day_of_week'", "9"]),
        ({"expression": "0 L * * *"}, ["'hour'", "'L'"]),
        ({"expression": "0 0 * 1# *"}, ["'month_of_year'", "'1#'"]),
        ({"expression": "0 0 L/2 * *"}, ["'day_of_month'", "'L'"]),
        ({"expression": "0 0 13 * FRI", "day_match": "any"}, ["day_match", "'any'", "either"]),
    ],
)
def test_dialect_errors_are_one_line_naming_field_and_value(
    kwargs: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(InvalidSchedule) as info:
        Crontab(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


# --- property: the dialect against a brute-force evaluator -------------------------------

WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _weekday(day: date) -> int:
    return (day.weekday() + 1) % 7  # cron numbering, Sunday 0


def _month_days(day: date) -> list[date]:
    length = calendar.monthrange(day.year, day.month)[1]
    return [day.replace(day=n) for n in range(1, length + 1)]


def _nearest_weekday(day: date, target: int | None) -> bool:
    """Whether ``day`` is the Monday-Friday day of its month closest to ``target`` (None: last)."""
    month = _month_days(day)
    workdays = [d for d in month if d.weekday() < 5]
    if target is None:
        return day == workdays[-1]
    if target > len(month):
        return False
    return day == min(workdays, key=lambda d: abs(d.day - target))


def _dom_item_matches(item: str, day: date) -> bool:
    if item == "*":
        return True
    if item == "L":
        return day.day == len(_month_days(day))
    if item == "LW":
        return _nearest_weekday(day, None)
    if item.endswith("W"):
        return _nearest_weekday(day, int(item[:-1]))
    return day.day == int(item)


def _dow_number(text: str) -> int:
    return WEEKDAY_NAMES.index(text) if text in WEEKDAY_NAMES else int(text) % 7


def _dow_item_matches(item: str, day: date) -> bool:
    if item == "*":
        return True
    same = [d for d in _month_days(day) if _weekday(d) == _weekday(day)]
    if item.endswith("L"):
        return _weekday(day) == _dow_number(item[:-1]) and day == same[-1]
    if "#" in item:
        weekday, nth = item.split("#")
        return _weekday(day) == _dow_number(weekday) and same.index(day) + 1 == int(nth)
    return _weekday(day) == _dow_number(item)


def reference_day(day: date, dom: list[str], dow: list[str], either: bool) -> bool:
    by_month = any(_dom_item_matches(item, day) for item in dom)
    by_week = any(_dow_item_matches(item, day) for item in dow)
    if either and dom[0] != "*" and dow[0] != "*":
        return by_month or by_week
    return by_month and by_week


DOM_ITEMS = st.one_of(
    st.integers(1, 31).map(str),
    st.sampled_from(["L", "LW", "1W", "15W", "30W", "31W"]),
    st.integers(1, 31).map(lambda n: f"{n}W"),
)
DOW_ITEMS = st.one_of(
    st.integers(0, 7).map(str),
    st.sampled_from(WEEKDAY_NAMES),
    st.tuples(st.sampled_from([*WEEKDAY_NAMES, "5", "0", "7"]), st.sampled_from(["L"])).map(
        "".join
    ),
    st.tuples(st.sampled_from([*WEEKDAY_NAMES, "3"]), st.integers(1, 5)).map(
        lambda wn: f"{wn[0]}#{wn[1]}"
    ),
)


def _field(items: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just(["*"]), st.lists(items, min_size=1, max_size=3))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dom=_field(DOM_ITEMS),
    dow=_field(DOW_ITEMS),
    either=st.booleans(),
    start=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
)
def test_day_rules_match_a_brute_force_walk_over_days(
    dom: list[str], dow: list[str], either: bool, start: date
) -> None:
    expression = f"0 12 {','.join(dom)} * {','.join(dow)}"
    try:
        cron = Crontab(expression, tz="UTC", day_match="either" if either else "both")
    except InvalidSchedule:
        # Only a day of month that no month has (31W and 30W exist; none is refused here).
        pytest.fail(f"{expression!r} was refused")
    expected: datetime | None = None
    day = start + timedelta(days=1)
    for _ in range(366 * 8):
        if reference_day(day, dom, dow, either):
            expected = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            break
        day += timedelta(days=1)
    actual = cron.next_after(datetime(start.year, start.month, start.day, 12, tzinfo=UTC))
    if expected is None:
        assert actual is None or actual.date() > day, (expression, either, start, actual)
    else:
        assert actual == expected, (expression, either, start, actual, expected)


#: 2026 transitions: New York, Berlin, Lord Howe (30-minute shifts), Santiago (at midnight).
TRANSITIONS = {
    "America/New_York": [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)],
    "Europe/Berlin": [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)],
    "Australia/Lord_Howe": [
        datetime(2026, 4, 4, 15, tzinfo=UTC),
        datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
    ],
    "America/Santiago": [
        datetime(2026, 4, 5, 3, tzinfo=UTC),
        datetime(2026, 9, 6, 4, tzinfo=UTC),
    ],
}
PROBE_DAYS = 3


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone_name=st.sampled_from(sorted(TRANSITIONS)),
    data=st.data(),
    dom=_field(DOM_ITEMS),
    dow=_field(DOW_ITEMS),
    either=st.booleans(),
    hour=st.sampled_from(["*", "*/2", "0", "1", "2", "23", "1,2"]),
    minute=st.sampled_from(["0", "30", "*/20", "45"]),
)
def test_day_rules_across_dst_match_a_walk_over_real_minutes(
    zone_name: str,
    data: st.DataObject,
    dom: list[str],
    dow: list[str],
    either: bool,
    hour: str,
    minute: str,
) -> None:
    """The dialect with fixed and wildcard hours near transitions, against real minutes."""
    tz = ZoneInfo(zone_name)
    transition = data.draw(st.sampled_from(TRANSITIONS[zone_name]), label="transition")
    start = transition - timedelta(minutes=data.draw(st.integers(0, 2 * 24 * 60), label="back"))
    expression = f"{minute} {hour} {','.join(dom)} * {','.join(dow)}"
    cron = Crontab(expression, tz=zone_name, day_match="either" if either else "both")
    minutes = {m for m in range(60) if m % 20 == 0} if minute == "*/20" else {int(minute)}
    hours = {
        "*": set(range(24)),
        "*/2": set(range(0, 24, 2)),
    }.get(hour) or {int(h) for h in hour.split(",")}
    real_time = hour.startswith("*")

    days: dict[date, bool] = {}

    def matches(wall: datetime) -> bool:
        if wall.minute not in minutes or wall.hour not in hours:
            return False
        day = wall.date()
        if day not in days:
            days[day] = reference_day(day, dom, dow, either)
        return days[day]

    expected: datetime | None = None
    one = timedelta(minutes=1)
    instant = start + one
    previous = start.astimezone(tz).replace(tzinfo=None)
    end = start + timedelta(days=PROBE_DAYS)
    while instant <= end and expected is None:
        local = instant.astimezone(tz)
        wall = local.replace(tzinfo=None)
        if (real_time or local.fold == 0) and matches(wall):
            expected = instant
        if not real_time and expected is None and wall - previous > one:
            skipped = previous + one
            while skipped < wall and expected is None:
                if matches(skipped):
                    expected = instant
                skipped += one
        previous = wall
        instant += one
    actual = cron.next_after(start)
    event("fires within the walk" if expected is not None else "no fire within the walk")
    if expected is None:
        assert actual is None or actual > end, (expression, zone_name, start, actual)
    else:
        assert actual == expected, (expression, zone_name, start, actual, expected)
