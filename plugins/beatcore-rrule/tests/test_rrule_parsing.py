"""RRule construction: RRULE text, keywords and dateutil objects; errors; encoding; words."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du
from dateutil import tz as dateutil_tz
from rrule_support import utc

from beatcore.errors import InvalidSchedule
from beatcore_rrule import RRule

PARIS = ZoneInfo("Europe/Paris")


def test_text_and_keywords_give_the_same_rule() -> None:
    text = RRule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0", tz="Europe/Paris")
    prefixed = RRule("RRULE:freq=weekly;byday=we,mo;byminute=0;byhour=9", tz="Europe/Paris")
    keywords = RRule(freq="weekly", byweekday=["MO", "WE"], byhour=9, byminute=0, tz="Europe/Paris")
    numbers = RRule(freq=2, byweekday=(du.WE, du.MO), byhour=[9], byminute="0", tz="Europe/Paris")
    assert text == prefixed == keywords == numbers
    assert text.rule == "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0"
    assert text.next_after(utc(2026, 1, 5)) == utc(2026, 1, 5, 8)  # 09:00 CET


def test_every_part_is_read_and_written_in_a_fixed_order() -> None:
    rule = RRule(
        "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR;INTERVAL=2;WKST=SU;BYHOUR=17;"
        "BYMINUTE=30;BYSECOND=15;UNTIL=20271231T235959Z;BYMONTH=1,7"
    )
    assert rule.rule == (
        "FREQ=MONTHLY;INTERVAL=2;UNTIL=20271231T235959Z;WKST=SU;BYSETPOS=-1;BYMONTH=1,7;"
        "BYDAY=MO,TU,WE,TH,FR;BYHOUR=17;BYMINUTE=30;BYSECOND=15"
    )
    assert rule.recurrence.until == datetime(2027, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    nth = RRule("FREQ=YEARLY;BYMONTH=11;BYDAY=+4TH", tz="America/New_York")
    assert nth.recurrence.byday == ((4, 3),)
    assert nth.rule == "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH"
    # Thanksgiving 2026 is 26 November; midnight EST is 05:00 UTC.
    assert nth.next_after(utc(2026, 1, 1)) == utc(2026, 11, 26, 5)


def test_dtstart_line_forms() -> None:
    zoned = RRule("DTSTART;TZID=Europe/Paris:20260105T090000\nRRULE:FREQ=DAILY;COUNT=3")
    assert zoned.tz == "Europe/Paris"
    assert zoned.dtstart == datetime(2026, 1, 5, 9, 0)  # a wall time of Paris
    floating = RRule("DTSTART:20260105T090000\nRRULE:FREQ=DAILY;COUNT=3", tz="Europe/Paris")
    assert floating == zoned
    utc_start = RRule("DTSTART:20260105T080000Z\nRRULE:FREQ=DAILY;COUNT=3")
    assert utc_start.tz is None
    assert utc_start.dtstart == utc(2026, 1, 5, 8)
    dated = RRule("DTSTART;VALUE=DATE:20260105\nFREQ=DAILY", tz="UTC")
    assert dated.dtstart == datetime(2026, 1, 5)


def test_aware_dtstart_with_tz_becomes_a_wall_time_of_tz() -> None:
    aware = RRule(
        freq="daily", dtstart=datetime(2026, 1, 5, 8, tzinfo=timezone.utc), tz="Europe/Paris"
    )
    naive = RRule(freq="daily", dtstart=datetime(2026, 1, 5, 9), tz="Europe/Paris")
    assert aware == naive
    assert aware.next_after(utc(2026, 7, 1)) == utc(2026, 7, 1, 7)  # 09:00 CEST


def test_tz_may_be_a_zone_object_with_a_name() -> None:
    assert RRule("FREQ=DAILY", tz=PARIS) == RRule("FREQ=DAILY", tz="Europe/Paris")
    with pytest.raises(InvalidSchedule, match="has no IANA name"):
        RRule("FREQ=DAILY", tz=timezone(timedelta(hours=1)))


def test_rule_without_tz_follows_the_zone_it_is_asked_in() -> None:
    rule = RRule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    start = datetime(2026, 1, 5, tzinfo=PARIS)
    assert rule.next_after(start) == utc(2026, 1, 5, 8)
    assert rule.next_after(start.astimezone(timezone.utc)) == utc(2026, 1, 5, 9)


def test_omitted_parts_default_to_the_start_of_their_period() -> None:
    assert RRule("FREQ=WEEKLY", tz="UTC").next_after(utc(2026, 1, 6)) == utc(2026, 1, 12)  # Mon
    assert RRule("FREQ=MONTHLY", tz="UTC").next_after(utc(2026, 1, 6)) == utc(2026, 2, 1)
    assert RRule("FREQ=YEARLY", tz="UTC").next_after(utc(2026, 1, 6)) == utc(2027, 1, 1)
    assert RRule("FREQ=HOURLY", tz="UTC").next_after(utc(2026, 1, 6, 5, 1)) == utc(2026, 1, 6, 6)


def test_dateutil_rrule_object_is_accepted() -> None:
    obj = du.rrule(
        du.WEEKLY,
        byweekday=(du.MO, du.WE),
        byhour=9,
        byminute=0,
        bysecond=0,
        dtstart=datetime(2026, 1, 5, 9, tzinfo=PARIS),
        until=datetime(2026, 2, 1, tzinfo=PARIS),
    )
    rule = RRule(obj)
    assert rule.tz == "Europe/Paris"
    assert rule.dtstart == datetime(2026, 1, 5, 9)
    assert rule.recurrence.until == utc(2026, 1, 31, 23)
    assert rule.next_after(utc(2026, 1, 1)) == utc(2026, 1, 5, 8)
    # dateutil's own zones are named too; a zone without a name needs tz=.
    gettz = du.rrule(
        du.DAILY, dtstart=datetime(2026, 1, 5, 9, tzinfo=dateutil_tz.gettz("Europe/Paris"))
    )
    assert RRule(gettz).tz == "Europe/Paris"
    assert (
        RRule(du.rrule(du.DAILY, dtstart=datetime(2026, 1, 5, tzinfo=dateutil_tz.UTC))).tz == "UTC"
    )
    offset = du.rrule(
        du.DAILY, dtstart=datetime(2026, 1, 5, 9, tzinfo=timezone(timedelta(hours=2)))
    )
    with pytest.raises(InvalidSchedule, match="zone without an IANA name"):
        RRule(offset)
    assert RRule(offset, tz="Europe/Paris").dtstart == datetime(2026, 1, 5, 8)
    with pytest.raises(InvalidSchedule, match="BYEASTER"):
        RRule(du.rrule(du.YEARLY, byeaster=0, dtstart=datetime(2026, 1, 1, tzinfo=PARIS)))
    naive = du.rrule(du.DAILY, dtstart=datetime(2026, 1, 5, 9), count=2)
    assert RRule(naive, tz="Europe/Paris").next_after(utc(2026, 1, 5, 8)) == utc(2026, 1, 6, 8)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RRule("FREQ=FORTNIGHTLY"), "rrule FREQ must be one of YEARLY"),
        (lambda: RRule(freq="sometimes"), "rrule freq must be one of YEARLY"),
        (lambda: RRule("BYDAY=MO"), "rrule FREQ is required"),
        (lambda: RRule("FREQ=WEEKLY;BYDAY=MO,XX"), "rrule BYDAY has an unknown weekday"),
        (
            lambda: RRule(freq="weekly", byweekday="MO,FUN"),
            "rrule byweekday has an unknown weekday",
        ),
        (lambda: RRule(freq="weekly", byweekday=7), "weekday numbers must be 0 (Monday)"),
        (lambda: RRule("FREQ=DAILY;BYHOUR=24"), "rrule BYHOUR values must be in 0..23, got '24'"),
        (lambda: RRule(freq="daily", byminute=[0, 61]), "rrule byminute values must be in 0..59"),
        (lambda: RRule("FREQ=DAILY;INTERVAL=0"), "rrule INTERVAL must be a positive integer"),
        # dateutil keeps both in C ints: a bare OverflowError before
        (lambda: RRule(freq="daily", interval=2**31), "rrule interval must be at most 2147483647"),
        (lambda: RRule(freq="daily", interval=10**5000), "interval must be at most 2147483647"),
        (lambda: RRule("FREQ=DAILY;COUNT=2147483648"), "rrule COUNT must be at most 2147483647"),
        (lambda: RRule("FREQ=DAILY;COUNT=x"), "rrule COUNT must be an integer, got 'x'"),
        (lambda: RRule("FREQ=DAILY;BYFOO=1"), "rrule part 'BYFOO' is unknown"),
        (lambda: RRule("FREQ=DAILY;FREQ=WEEKLY"), "rrule part FREQ is given twice"),
        (lambda: RRule("FREQ=DAILY;UNTIL=2026-01-01"), "rrule UNTIL must be YYYYMMDD"),
        (lambda: RRule("FREQ=DAILY;UNTIL=20260230"), "rrule UNTIL is not a real date"),
        (
            lambda: RRule("DTSTART:20260105T090000\nRRULE:FREQ=DAILY"),
            "rrule dtstart '2026-01-05T09:00:00' is naive and no tz is given",
        ),
        (lambda: RRule(freq="daily", dtstart=datetime(2026, 1, 5)), "is naive and no tz"),
        (lambda: RRule("FREQ=DAILY", tz="Mars/Olympus"), "rrule tz is an unknown time zone"),
        (lambda: RRule("FREQ=DAILY", tz=3), "rrule tz must be a zone name"),  # type: ignore[arg-type]
        (
            lambda: RRule("DTSTART;TZID=Mars/Olympus:20260105T090000\nFREQ=DAILY"),
            "'Mars/Olympus'",
        ),
        (lambda: RRule("FREQ=DAILY;COUNT=3", tz="UTC"), "COUNT=3 needs a dtstart"),
        (
            lambda: RRule("FREQ=DAILY;COUNT=3;UNTIL=20260101T000000Z"),
            "rrule takes COUNT or UNTIL, not both",
        ),
        (lambda: RRule("FREQ=DAILY;BYWEEKNO=3"), "rrule BYWEEKNO is only allowed with FREQ=YEARLY"),
        (lambda: RRule("FREQ=WEEKLY;BYMONTHDAY=3"), "BYMONTHDAY is not allowed with FREQ=WEEKLY"),
        (lambda: RRule("FREQ=DAILY;BYDAY=1MO"), "numbered weekdays (1MO) with MONTHLY or YEARLY"),
        (
            lambda: RRule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
            "rrule BYMONTHDAY never matches a day",
        ),
        (
            lambda: RRule("FREQ=DAILY;BYHOUR=9;BYSETPOS=3"),
            "selects position 3 of a set of at most 1",
        ),
        (lambda: RRule("FREQ=DAILY;BYSETPOS=1"), "BYSETPOS needs another BYxxx part"),
        (lambda: RRule("FREQ=HOURLY;INTERVAL=6;BYHOUR=3", tz="UTC"), "is not a usable rule"),
        (lambda: RRule("FREQ=DAILY\nRDATE:20260101"), "rrule RDATE is not supported"),
        (lambda: RRule(freq="daily", byday="MO"), "unknown keyword(s) byday"),
        (lambda: RRule("FREQ=DAILY", freq="daily"), "either rule text or keywords"),
        (lambda: RRule(42), "rule must be RRULE text or a dateutil rrule"),
        (
            lambda: RRule("DTSTART;TZID=Europe/Paris:20260105T090000\nFREQ=DAILY", tz="UTC"),
            "contradicts the rule's DTSTART TZID",
        ),
    ],
)
def test_bad_input_names_the_field_and_value(make: object, message: str) -> None:
    with pytest.raises(InvalidSchedule) as info:
        make()  # type: ignore[operator]
    assert message in str(info.value)


def test_to_dict_round_trips() -> None:
    rules = [
        RRule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0", tz="Europe/Paris"),
        RRule("DTSTART;TZID=America/New_York:20260105T093000\nRRULE:FREQ=DAILY;COUNT=5"),
        RRule("DTSTART:20260105T080000Z\nRRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20270101T000000Z"),
        RRule(freq="yearly", bymonth=3, bymonthday=-1, until=datetime(2030, 1, 1), tz="UTC"),
    ]
    for rule in rules:
        data = rule.to_dict()
        assert set(data) == {"rule", "dtstart", "tz"}
        assert RRule.from_dict(data) == rule
    assert rules[1].to_dict() == {
        "rule": "FREQ=DAILY;COUNT=5",
        "dtstart": "2026-01-05T09:30:00",
        "tz": "America/New_York",
    }
    assert rules[2].to_dict()["dtstart"] == "2026-01-05T08:00:00+00:00"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dtstart": None, "tz": None}, "field 'rule' must be RRULE text, got None"),
        ({"rule": "FREQ=DAILY", "every": 3}, "unknown field(s) ['every']"),
        ({"rule": "FREQ=DAILY", "dtstart": "monday", "tz": "UTC"}, "field 'dtstart' is not"),
        ({"rule": "FREQ=OFTEN"}, "rrule FREQ must be one of"),
        ({"rule": "FREQ=DAILY", "tz": "Nowhere/Town"}, "rrule tz is an unknown time zone"),
    ],
)
def test_from_dict_names_the_bad_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSchedule) as info:
        RRule.from_dict(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (
            RRule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0", tz="Europe/Paris"),
            "weekly on Mon, Wed at 09:00, Europe/Paris",
        ),
        (RRule("FREQ=DAILY;INTERVAL=2;BYHOUR=8,20;BYMINUTE=15"), "every 2 days at 08:15, 20:15"),
        (RRule("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0"), "monthly on last Fri at 17:00"),
        (RRule("FREQ=HOURLY;BYMINUTE=0,30"), "hourly at minute 0, 30"),
        (
            RRule(freq="daily", count=3, dtstart=datetime(2026, 1, 5, 9, 30), tz="UTC"),
            "daily at 09:30, from 2026-01-05 09:30:00, 3 times, UTC",
        ),
        (RRule("FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO"), "rrule FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO"),
        (
            # An instant dtstart has a wall time only in the zone asked in: no default "at".
            RRule("DTSTART:20260105T080000Z\nRRULE:FREQ=DAILY;COUNT=3"),
            "daily, from 2026-01-05 08:00:00 UTC, 3 times",
        ),
        (RRule("FREQ=MONTHLY;BYMONTHDAY=-1,1"), "monthly on day 1, last day at 00:00"),
    ],
)
def test_describe(rule: RRule, words: str) -> None:
    assert rule.describe() == words


def test_microseconds_and_far_dates_are_handled() -> None:
    rule = RRule("FREQ=SECONDLY;INTERVAL=10", tz="UTC")
    assert rule.next_after(utc(2026, 1, 1) + timedelta(microseconds=5)) == utc(2026, 1, 1) + (
        timedelta(seconds=10)
    )
    assert rule.next_after(datetime(9999, 12, 31, tzinfo=timezone.utc)) is None
