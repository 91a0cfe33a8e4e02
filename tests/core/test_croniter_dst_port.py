"""croniter's DST and day-rule expectations, ported (written here, not copied) to Crontab.

Each case restates what croniter's own suite expects (``testTimezoneWinterTime``,
``testTimezoneSummerTime``, ``test_std_dst``, ``test_std_dst2``, ``test_std_dst3``,
``test_match`` with ``day_or``) as instants, so the comparison does not depend on pytz.
croniter runs wildcard-hour jobs on real time, as beatcore does; its expectation for a fixed
time inside a gap (``test_dst_issue90_st31ny``: skipped to the next day) is the one case left
out, because beatcore's rule (and Celery's, and Vixie cron's) runs it at the end of the gap.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from beatcore.schedules import Crontab

UTC = timezone.utc


def at(*wall: int, offset_hours: float) -> datetime:
    """The instant of a wall time read with a given UTC offset (which picks the fold)."""
    naive = datetime(*wall)  # type: ignore[arg-type]
    return (naive - timedelta(hours=offset_hours)).replace(tzinfo=UTC)


def chain(cron: Crontab, start: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    current = start
    for _ in range(count):
        nxt = cron.next_after(current)
        assert nxt is not None
        found.append(nxt)
        current = nxt
    return found


def test_athens_fall_back_every_half_hour_runs_both_passes() -> None:
    # 2013-10-27 04:00 EEST (+3) -> 03:00 EET (+2): 03:00-03:59 happen twice.
    cron = Crontab("*/30 * * * *", tz="Europe/Athens")
    start = at(2013, 10, 27, 2, 0, offset_hours=3)
    expected = [
        at(2013, 10, 27, 2, 30, offset_hours=3),
        at(2013, 10, 27, 3, 0, offset_hours=3),
        at(2013, 10, 27, 3, 30, offset_hours=3),
        at(2013, 10, 27, 3, 0, offset_hours=2),
        at(2013, 10, 27, 3, 30, offset_hours=2),
        at(2013, 10, 27, 4, 0, offset_hours=2),
        at(2013, 10, 27, 4, 30, offset_hours=2),
    ]
    assert chain(cron, start, len(expected)) == expected
    offsets = [e.astimezone(ZoneInfo("Europe/Athens")).utcoffset() for e in expected]
    assert [o.total_seconds() for o in offsets if o] == [10800] * 3 + [7200] * 4


def test_athens_spring_forward_every_half_hour_skips_the_missing_hour() -> None:
    # 2013-03-31 03:00 EET (+2) -> 04:00 EEST (+3): 03:00 and 03:30 are never shown.
    cron = Crontab("*/30 * * * *", tz="Europe/Athens")
    start = at(2013, 3, 31, 1, 0, offset_hours=2)
    assert chain(cron, start, 5) == [
        at(2013, 3, 31, 1, 30, offset_hours=2),
        at(2013, 3, 31, 2, 0, offset_hours=2),
        at(2013, 3, 31, 2, 30, offset_hours=2),
        at(2013, 3, 31, 4, 0, offset_hours=3),
        at(2013, 3, 31, 4, 30, offset_hours=3),
    ]


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        # 2017-03-26 02:00 CET (+1) -> 03:00 CEST (+2).
        ("0 0 * * *", (2017, 3, 26, 0, 0, 1), (2017, 3, 27, 0, 0, 2)),
        ("0 * * * *", (2017, 3, 26, 1, 0, 1), (2017, 3, 26, 3, 0, 2)),
        # 2017-10-29 03:00 CEST (+2) -> 02:00 CET (+1).
        ("0 0 * * *", (2017, 10, 29, 0, 0, 2), (2017, 10, 30, 0, 0, 1)),
        ("0 * * * *", (2017, 10, 29, 1, 59, 2), (2017, 10, 29, 2, 0, 2)),
        ("0 * * * *", (2017, 10, 29, 2, 0, 1), (2017, 10, 29, 3, 0, 1)),
        ("0 * * * *", (2017, 10, 29, 3, 0, 1), (2017, 10, 29, 4, 0, 1)),
        ("0 * * * *", (2017, 10, 29, 4, 0, 1), (2017, 10, 29, 5, 0, 1)),
        ("0 * * * *", (2017, 10, 29, 5, 0, 1), (2017, 10, 29, 6, 0, 1)),
    ],
)
def test_warsaw_2017(expression: str, start: tuple[int, ...], expected: tuple[int, ...]) -> None:
    cron = Crontab(expression, tz="Europe/Warsaw")
    *wall, offset = start
    *want, want_offset = expected
    assert cron.next_after(at(*wall, offset_hours=offset)) == at(*want, offset_hours=want_offset)


@pytest.mark.parametrize(
    ("start", "offset"),
    [
        ((2018, 2, 17, 21, 0), -2),
        ((2018, 2, 17, 22, 0), -2),
        ((2018, 2, 17, 23, 0), -3),  # the repeated 23:00, second pass
        ((2018, 2, 17, 21, 5), -2),
        ((2018, 2, 17, 22, 5), -2),
        ((2018, 2, 17, 23, 5), -3),
    ],
)
def test_sao_paulo_2018_midnight_after_fall_back(start: tuple[int, ...], offset: int) -> None:
    # 2018-02-18 00:00 BRST (-2) -> 2018-02-17 23:00 BRT (-3): 23:00-23:59 happen twice.
    cron = Crontab("0 0 * * *", tz="America/Sao_Paulo")
    assert cron.next_after(at(*start, offset_hours=offset)) == at(
        2018, 2, 18, 0, 0, offset_hours=-3
    )


@pytest.mark.parametrize("minute", [0, 5])
def test_sao_paulo_2018_the_day_after(minute: int) -> None:
    cron = Crontab("0 0 * * *", tz="America/Sao_Paulo")
    start = at(2018, 2, 18, 0, minute, offset_hours=-3)
    assert cron.next_after(start) == at(2018, 2, 19, 0, 0, offset_hours=-3)


def test_adelaide_2020_monthly_across_the_april_change() -> None:
    # 2020-04-05 03:00 ACDT (+10:30) -> 02:00 ACST (+9:30).
    cron = Crontab("0 0 24 * *", tz="Australia/Adelaide")
    start = at(2020, 4, 15, 0, 0, offset_hours=9.5)
    assert cron.next_after(start) == at(2020, 4, 24, 0, 0, offset_hours=9.5)


@pytest.mark.parametrize(
    ("expression", "day", "either", "matches"),
    [
        ("0 0 10 * wed", date(2020, 6, 10), True, True),
        ("0 0 10 * fri", date(2020, 6, 10), True, True),
        ("0 0 10 * fri", date(2020, 6, 12), True, True),
        ("0 0 10 * wed", date(2020, 6, 10), False, True),
        ("0 0 10 * fri", date(2020, 6, 10), False, False),
        ("0 0 10 * fri", date(2020, 6, 12), False, False),
    ],
)
def test_day_or_matches_as_croniter(
    expression: str, day: date, either: bool, matches: bool
) -> None:
    cron = Crontab(expression, tz="UTC", day_match="either" if either else "both")
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert (cron.next_after(midnight - timedelta(minutes=1)) == midnight) is matches
