"""RRule.next_after across DST changes, exhaustion, and against a brute-force reference."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rrule_support import MINUTE, chain, utc

from beatcore.errors import InvalidSchedule
from beatcore_rrule import RRule
from beatcore_rrule.schedule import _SEARCH_YEARS as SEARCH_YEARS

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


# Europe/Berlin 2026: clocks go 02:00 -> 03:00 on 29 March (01:00 UTC) and 03:00 -> 02:00 on
# 25 October (01:00 UTC). America/New_York: 02:00 -> 03:00 on 8 March (07:00 UTC) and
# 02:00 -> 01:00 on 1 November (06:00 UTC).


def test_berlin_spring_forward_daily_time_in_the_gap_fires_once_after_it() -> None:
    rule = RRule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", tz="Europe/Berlin")
    assert chain(rule, utc(2026, 3, 27, 12), utc(2026, 3, 31)) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 02:30 does not exist: 03:00 CEST, the end of the gap
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_berlin_spring_forward_sub_daily_gap_times_do_not_fire() -> None:
    rule = RRule("FREQ=MINUTELY;INTERVAL=30", dtstart=datetime(2026, 3, 29), tz="Europe/Berlin")
    assert chain(rule, utc(2026, 3, 28, 23, 59), utc(2026, 3, 29, 1, 30)) == [
        utc(2026, 3, 29, 0, 0),  # 01:00 CET
        utc(2026, 3, 29, 0, 30),  # 01:30 CET
        utc(2026, 3, 29, 1, 0),  # 02:00 and 02:30 are never shown; 03:00 CEST
        utc(2026, 3, 29, 1, 30),  # 03:30 CEST
    ]


def test_berlin_fall_back_repeated_time_fires_at_its_first_occurrence_only() -> None:
    daily = RRule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", tz="Europe/Berlin")
    assert chain(daily, utc(2026, 10, 24, 12), utc(2026, 10, 27)) == [
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST; the second 02:30 (CET) does not fire
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]
    pinned = RRule("FREQ=HOURLY;BYHOUR=1,2,3;BYMINUTE=30", tz="Europe/Berlin")
    assert chain(pinned, utc(2026, 10, 24, 22, 45), utc(2026, 10, 25, 3)) == [
        utc(2026, 10, 24, 23, 30),  # 01:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 2, 30),  # 03:30 CET: the repeated 02:30 CET (01:30 UTC) is skipped
    ]


def test_sub_daily_rules_without_byhour_run_both_passes_of_a_repeated_hour() -> None:
    hourly = RRule("FREQ=HOURLY;BYMINUTE=30", tz="Europe/Berlin")
    assert chain(hourly, utc(2026, 10, 24, 22, 45), utc(2026, 10, 25, 3)) == [
        utc(2026, 10, 24, 23, 30),  # 01:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 30),  # 02:30 CET, the second pass
        utc(2026, 10, 25, 2, 30),  # 03:30 CET
    ]
    assert hourly.real_time and not RRule("FREQ=DAILY", tz="UTC").real_time
    ny = RRule("FREQ=HOURLY", tz="America/New_York")
    assert chain(ny, utc(2026, 11, 1, 3, 30), utc(2026, 11, 1, 7)) == [
        utc(2026, 11, 1, 4),  # 00:00 EDT
        utc(2026, 11, 1, 5),  # 01:00 EDT
        utc(2026, 11, 1, 6),  # 01:00 EST
        utc(2026, 11, 1, 7),  # 02:00 EST
    ]
    # Asked during the second pass the next hour of that pass comes next.
    assert ny.next_after(utc(2026, 11, 1, 6, 10)) == utc(2026, 11, 1, 7)
    seconds = RRule("FREQ=SECONDLY;INTERVAL=20", tz="America/New_York")
    assert seconds.next_after(utc(2026, 11, 1, 5, 59) + timedelta(seconds=45)) == utc(
        2026, 11, 1, 6
    )


def test_fall_back_asked_during_the_repeated_hour_does_not_fire_again() -> None:
    rule = RRule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", tz="Europe/Berlin")
    # 01:10 UTC is 02:10 CET, the second pass through 02:xx; 02:30 already fired at 00:30 UTC.
    assert rule.next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30)


def test_new_york_spring_forward_and_fall_back() -> None:
    spring = RRule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", tz="America/New_York")
    assert chain(spring, utc(2026, 3, 7, 12), utc(2026, 3, 9, 12)) == [
        utc(2026, 3, 8, 7, 0),  # 02:30 does not exist: 03:00 EDT
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]
    fall = RRule("FREQ=DAILY;BYHOUR=1;BYMINUTE=30", tz="America/New_York")
    assert chain(fall, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12)) == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT only, not 01:30 EST
        utc(2026, 11, 2, 6, 30),  # 01:30 EST
    ]


def test_entry_zone_is_used_when_the_rule_has_none() -> None:
    rule = RRule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30")
    start = utc(2026, 3, 28, 12).astimezone(BERLIN)
    assert rule.next_after(start) == utc(2026, 3, 29, 1, 0)


def test_count_is_exhausted() -> None:
    rule = RRule("DTSTART;TZID=Europe/Berlin:20260327T023000\nRRULE:FREQ=DAILY;COUNT=3")
    assert chain(rule, utc(2026, 1, 1), utc(2027, 1, 1)) == [
        utc(2026, 3, 27, 1, 30),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
    ]
    assert rule.next_after(utc(2026, 3, 29, 1)) is None
    assert rule.next_after(utc(2030, 1, 1)) is None


def test_until_is_inclusive_and_exhausts_the_rule() -> None:
    instant = RRule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0;UNTIL=20260107T080000Z", tz="Europe/Berlin")
    assert chain(instant, utc(2026, 1, 4), utc(2027, 1, 1)) == [
        utc(2026, 1, 4, 8),
        utc(2026, 1, 5, 8),
        utc(2026, 1, 6, 8),
        utc(2026, 1, 7, 8),
    ]
    wall = RRule(freq="daily", byhour=9, byminute=0, until=datetime(2026, 1, 6, 9), tz="Asia/Tokyo")
    assert chain(wall, utc(2026, 1, 3), utc(2027, 1, 1)) == [
        utc(2026, 1, 4, 0),
        utc(2026, 1, 5, 0),
        utc(2026, 1, 6, 0),
    ]
    assert wall.next_after(utc(2026, 1, 6)) is None


def test_rule_that_never_comes_again_within_30_years_gives_none() -> None:
    rule = RRule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", tz="UTC")
    assert rule.next_after(utc(2027, 1, 1)) == utc(2044, 2, 29)
    assert RRule("FREQ=YEARLY;BYMONTH=1", tz="UTC").next_after(utc(9998, 2, 1)) is None


@pytest.mark.parametrize(
    ("text", "united"),
    [
        ("FREQ=MONTHLY;BYDAY=MO,-1SU", "FREQ=MONTHLY;BYDAY=1MO,2MO,3MO,4MO,5MO,-1SU"),
        (
            "FREQ=YEARLY;BYMONTH=3,10;BYDAY=SU,2SA",
            "FREQ=YEARLY;BYMONTH=3,10;BYDAY=1SU,2SU,3SU,4SU,5SU,2SA",
        ),
        (
            "FREQ=YEARLY;BYDAY=FR,1MO",
            "FREQ=YEARLY;BYDAY=1MO," + ",".join(f"{k}FR" for k in range(1, 54)),
        ),
    ],
)
def test_plain_and_numbered_weekdays_are_united(text: str, united: str) -> None:
    """RFC 5545 unites "MO,-1SU"; dateutil alone would intersect them and find nothing."""
    start = datetime(2026, 1, 1)
    rule = RRule(text, dtstart=start, tz="UTC")
    expected = du.rrulestr(united, dtstart=start)[:40]
    assert chain(rule, utc(2025, 12, 31), expected[-1].replace(tzinfo=timezone.utc)) == [
        when.replace(tzinfo=timezone.utc) for when in expected
    ]


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SU;WKST=SU;BYHOUR=7;BYMINUTE=5",
        "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=31",
        "FREQ=MONTHLY;BYDAY=2WE;BYHOUR=12",
        "FREQ=YEARLY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=-1",
        "FREQ=DAILY;INTERVAL=10;BYHOUR=4",
        "FREQ=HOURLY;INTERVAL=7;BYMINUTE=11",
        "FREQ=MINUTELY;INTERVAL=13",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;BYHOUR=18",
    ],
)
def test_far_from_dtstart_matches_dateutil_iterating_from_dtstart(text: str) -> None:
    """Starting the search near ``dt`` (by whole periods) must not change the occurrences."""
    start = datetime(2019, 5, 17, 13, 42)
    rule = RRule(text, dtstart=start, tz="UTC")
    reference = du.rrulestr(text, dtstart=start)
    for year in (2019, 2020, 2022):
        dt = datetime(year, 6, 3, 10, 10)
        expected = reference.after(dt)
        assert expected is not None
        assert rule.next_after(dt.replace(tzinfo=timezone.utc)) == expected.replace(
            tzinfo=timezone.utc
        )


# --- property test against a brute-force reference ---------------------------------------

#: Per zone, days around its 2026 transitions (or an ordinary day for zones without DST).
WINDOWS = {
    "Europe/Berlin": [datetime(2026, 3, 29), datetime(2026, 10, 25)],
    "America/New_York": [datetime(2026, 3, 8), datetime(2026, 11, 1)],
    "Australia/Lord_Howe": [datetime(2026, 4, 5), datetime(2026, 10, 4)],  # 30-minute shifts
    "Asia/Kolkata": [datetime(2026, 6, 1)],
    "UTC": [datetime(2026, 3, 29)],
}


def reference_fires(
    walls: list[datetime], tz: ZoneInfo, begin: datetime, end: datetime, real_time: bool
) -> list[datetime]:
    """Fire instants of minute-aligned wall times, by walking UTC minute by minute.

    On ``real_time`` a minute fires when the clock shows one of the wall times. Otherwise a
    wall time fires at the first minute whose local time has reached it: exactly at it when
    it exists, at its first occurrence when it is repeated, at the end of the gap when skipped.
    Wall times already reached at ``begin`` are ignored.
    """
    if real_time:
        shown = set(walls)
        minutes = int((end - begin) // MINUTE) + 1
        instants = (begin + n * MINUTE for n in range(minutes))
        return [t for t in instants if t.astimezone(tz).replace(tzinfo=None) in shown]
    fires: list[datetime] = []
    index = 0
    t = begin
    first_local = t.astimezone(tz).replace(tzinfo=None)
    while index < len(walls) and walls[index] <= first_local:
        index += 1
    while t <= end and index < len(walls):
        local = t.astimezone(tz).replace(tzinfo=None)
        while index < len(walls) and walls[index] <= local:
            if not fires or fires[-1] != t:
                fires.append(t)
            index += 1
        t += MINUTE
    return fires


@st.composite
def rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["MINUTELY", "HOURLY", "DAILY", "WEEKLY"]))
    parts = [f"FREQ={freq}"]
    if freq == "MINUTELY":
        parts.append(f"INTERVAL={draw(st.sampled_from([10, 15, 20, 30, 45]))}")
    else:
        parts.append(f"INTERVAL={draw(st.integers(1, 3))}")
    if freq == "WEEKLY" or (freq == "DAILY" and draw(st.booleans())):
        days = draw(
            st.sets(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1)
        )
        parts.append("BYDAY=" + ",".join(sorted(days)))
    if freq in ("DAILY", "WEEKLY") or (freq == "HOURLY" and draw(st.booleans())):
        hours = draw(st.sets(st.integers(0, 23), min_size=1, max_size=4))
        parts.append("BYHOUR=" + ",".join(map(str, sorted(hours))))
    if freq != "MINUTELY":
        minutes = draw(st.sets(st.sampled_from([0, 1, 15, 29, 30, 31, 45, 59]), min_size=1))
        parts.append("BYMINUTE=" + ",".join(map(str, sorted(minutes))))
    parts.append("BYSECOND=0")
    if draw(st.integers(0, 4)) == 0:
        parts.append(f"COUNT={draw(st.integers(1, 3000))}")
    elif draw(st.integers(0, 4)) == 0:
        until = datetime(2026, 1, 1) + timedelta(minutes=draw(st.integers(0, 450_000)))
        parts.append("UNTIL=" + until.strftime("%Y%m%dT%H%M%S"))
    return ";".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=rules(),
    zone_name=st.sampled_from(sorted(WINDOWS)),
    own_tz=st.booleans(),
    data=st.data(),
)
def test_next_after_matches_brute_force_around_transitions(
    text: str, zone_name: str, own_tz: bool, data: st.DataObject
) -> None:
    tz = ZoneInfo(zone_name)
    dtstart = datetime(2026, 1, 1) + timedelta(minutes=data.draw(st.integers(0, 80_000)))
    day = data.draw(st.sampled_from(WINDOWS[zone_name]))
    begin = day.replace(tzinfo=timezone.utc) - timedelta(hours=30)
    begin += timedelta(seconds=data.draw(st.integers(0, 3600)))
    end = begin + timedelta(hours=60)
    scan_from = begin.replace(second=0) - timedelta(hours=3)
    local_from = scan_from.astimezone(tz).replace(tzinfo=None) - timedelta(hours=3)
    local_to = end.astimezone(tz).replace(tzinfo=None) + timedelta(hours=3)
    try:
        walls = du.rrulestr(text, dtstart=dtstart).between(local_from, local_to, inc=True)
    except ValueError:  # dateutil calls the rule empty (an HOURLY interval that misses BYHOUR)
        with pytest.raises(InvalidSchedule, match="is not a usable rule"):
            RRule(text, dtstart=dtstart, tz=zone_name)
        return
    if own_tz or "UNTIL=" in text:  # a floating UNTIL needs the rule's own zone
        schedule = RRule(text, dtstart=dtstart, tz=zone_name)
    else:
        # Without its own tz the rule runs in the zone of the datetime it is given.
        schedule = RRule(text, dtstart=dtstart.replace(tzinfo=tz).astimezone(timezone.utc))
    real_time = text.split(";")[0] in ("FREQ=HOURLY", "FREQ=MINUTELY") and "BYHOUR" not in text
    fires = reference_fires(walls, tz, scan_from, end, real_time and zone_name != "UTC")
    expected = [fire for fire in fires if fire > begin]
    assert chain(schedule, begin.astimezone(tz), end) == expected


#: How far past dtstart a draw may ask, per frequency: the reference iterates from dtstart.
REACH = {
    "YEARLY": timedelta(days=3650),
    "MONTHLY": timedelta(days=3650),
    "WEEKLY": timedelta(days=3650),
    "DAILY": timedelta(days=1500),
    "HOURLY": timedelta(days=60),
    "MINUTELY": timedelta(days=3),
    "SECONDLY": timedelta(hours=3),
}


@st.composite
def any_rules(draw: st.DrawFn) -> str:
    """Rules of every frequency with the parts that interact with the start (no DST here)."""
    freq = draw(st.sampled_from(sorted(REACH)))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 4))}"]
    if draw(st.booleans()):
        parts.append("WKST=" + draw(st.sampled_from(["MO", "SU", "WE"])))
    nth = freq in ("MONTHLY", "YEARLY") and draw(st.booleans())
    if freq in ("YEARLY", "MONTHLY", "DAILY") and draw(st.booleans()):
        months = draw(st.sets(st.integers(1, 12), min_size=1, max_size=3))
        parts.append("BYMONTH=" + ",".join(map(str, sorted(months))))
    if freq in ("YEARLY", "MONTHLY", "DAILY") and not nth and draw(st.booleans()):
        days = draw(st.sets(st.sampled_from([1, 2, 15, 28, -1]), min_size=1, max_size=3))
        parts.append("BYMONTHDAY=" + ",".join(map(str, sorted(days))))
    if nth:
        parts.append("BYDAY=" + draw(st.sampled_from(["1MO", "-1FR", "2TU,4TH", "-2WE,-1SU"])))
    elif draw(st.booleans()):
        days = draw(
            st.sets(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1)
        )
        parts.append("BYDAY=" + ",".join(sorted(days)))
    if draw(st.booleans()):
        hours = draw(st.sets(st.integers(0, 23), min_size=1, max_size=3))
        parts.append("BYHOUR=" + ",".join(map(str, sorted(hours))))
    if draw(st.booleans()):
        minutes = draw(st.sets(st.integers(0, 59), min_size=1, max_size=3))
        parts.append("BYMINUTE=" + ",".join(map(str, sorted(minutes))))
    if freq in ("MINUTELY", "SECONDLY") and draw(st.booleans()):
        seconds = draw(st.sets(st.integers(0, 59), min_size=1, max_size=3))
        parts.append("BYSECOND=" + ",".join(map(str, sorted(seconds))))
    if len(parts) > 3 and draw(st.booleans()):
        parts.append("BYSETPOS=" + draw(st.sampled_from(["1", "-1", "2", "1,-1"])))
    return ";".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=any_rules(), data=st.data())
def test_search_started_near_dt_matches_dateutil_from_dtstart(
    text: str, data: st.DataObject
) -> None:
    """The start moved forward by whole periods must not change any occurrence."""
    dtstart = datetime(2020, 1, 1) + timedelta(seconds=data.draw(st.integers(0, 3 * 365 * 86400)))
    freq = text.split(";")[0][5:]
    reach = int(REACH[freq].total_seconds())
    dt = dtstart + timedelta(seconds=data.draw(st.integers(-3600, reach)))
    try:
        rule = RRule(text, dtstart=dtstart, tz="UTC")
    except InvalidSchedule as exc:
        # Refused up front only for rules that can never fire (dateutil would search to 9999).
        reasons = ("never matches", "at most", "not a usable", "never occurs")
        assert any(why in str(exc) for why in reasons), str(exc)
        return
    try:
        expected = du.rrulestr(text, dtstart=dtstart).after(dt)
    except ValueError:  # dateutil calls the rule empty only once iterating
        with pytest.raises(InvalidSchedule):
            rule.next_after(dt.replace(tzinfo=timezone.utc))
        return
    if expected is not None and expected.year > dt.year + SEARCH_YEARS:
        expected = None  # past the documented search horizon: "nothing happens" in it
    assert rule.next_after(dt.replace(tzinfo=timezone.utc)) == (
        None if expected is None else expected.replace(tzinfo=timezone.utc)
    )


def test_an_occurrence_past_the_search_horizon_is_none_and_found_from_nearer() -> None:
    """Mondays that are 2 January come 31 years apart from 2020 (the case Hypothesis found):
    past the search horizon next_after says None, as documented; from nearer it finds it."""
    text = "FREQ=DAILY;INTERVAL=4;BYMONTH=1;BYMONTHDAY=2;BYDAY=MO"
    rule = RRule(text, dtstart=datetime(2020, 1, 1), tz="UTC")
    assert du.rrulestr(text, dtstart=datetime(2020, 1, 1)).after(datetime(2020, 1, 1)) == (
        datetime(2051, 1, 2)
    )
    assert rule.next_after(datetime(2020, 1, 1, tzinfo=timezone.utc)) is None
    found = rule.next_after(datetime(2045, 1, 1, tzinfo=timezone.utc))
    assert found == datetime(2051, 1, 2, tzinfo=timezone.utc)
