"""The bridge to dateutil: a validated rule as a ``dateutil.rrule.rrule`` on naive wall times.

Fills in the parts dateutil would take from the start, moves the start forward by whole
periods to just before the instant asked about (so an old ``dtstart`` costs nothing), unites
plain and numbered weekdays as RFC 5545 reads them, and refuses rules that never occur.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import attrs
from dateutil import rrule as dateutil_rrule

from beatcore.errors import InvalidSchedule
from beatcore_rrule import _rule
from beatcore_rrule._rule import FIXED_UNITS, WEEKDAYS, Recurrence


def to_dateutil(r: Recurrence, start: datetime, near: datetime | None) -> dateutil_rrule.rrule:
    """Return the rule on naive wall times, started as close before ``near`` as is exact.

    The parts dateutil would take from dtstart are filled in from the real start first, so
    moving the start forward by whole periods leaves the occurrences after it unchanged
    and spares iterating through years of them. A rule with COUNT is never moved.
    """
    level = r.level
    filled: dict[str, Any] = {}
    if not (r.byweekno or r.byyearday or r.bymonthday or r.byday):
        if r.freq == _rule.YEARLY:
            filled["bymonth"] = r.bymonth or (start.month,)
            filled["bymonthday"] = (start.day,)
        elif r.freq == _rule.MONTHLY:
            filled["bymonthday"] = (start.day,)
        elif r.freq == _rule.WEEKLY:
            filled["byweekday"] = (start.weekday(),)
    for name, own_level, value in (
        ("byhour", 4, start.hour),
        ("byminute", 5, start.minute),
        ("bysecond", 6, start.second),
    ):
        if not getattr(r, name) and level < own_level:
            filled[name] = (value,)
    if near is not None and r.count is None:
        start = moved_start(r, start, near)
    until = r.until if r.until is not None and r.until.tzinfo is None else None
    arguments: dict[str, Any] = {
        "bysetpos": r.bysetpos,
        "bymonth": r.bymonth,
        "bymonthday": r.bymonthday,
        "byyearday": r.byyearday,
        "byweekno": r.byweekno,
        "byweekday": [dateutil_rrule.weekday(day, n or None) for n, day in united(r)],
        "byhour": r.byhour,
        "byminute": r.byminute,
        "bysecond": r.bysecond,
    }
    arguments.update(filled)
    try:
        return dateutil_rrule.rrule(
            level,
            dtstart=start,
            interval=r.interval,
            wkst=WEEKDAYS.index(r.wkst),
            count=r.count,
            until=until,
            cache=False,
            **{key: (list(value) or None) for key, value in arguments.items()},
        )
    except ValueError as exc:
        raise InvalidSchedule(f"rrule {r.text()!r} is not a usable rule: {exc}") from exc


@functools.lru_cache(maxsize=1024)
def check_occurs(r: Recurrence, start: datetime) -> None:
    """Refuse a rule that never produces an occurrence from ``start``, COUNT and UNTIL aside.

    Cached: stored entries are rebuilt on every read, and a sparse rule (29 February that
    is a Monday) may take a while to find.
    """
    rule = to_dateutil(attrs.evolve(r, count=None, until=None), start, None)
    try:
        first = next(iter(rule), None)
    except ValueError as exc:  # dateutil finds some empty rules only while iterating
        raise InvalidSchedule(f"rrule {r.text()!r} is not a usable rule: {exc}") from exc
    if first is None:
        raise InvalidSchedule(f"rrule {r.text()!r} never occurs")


def united(rule: Recurrence) -> tuple[tuple[int, int], ...]:
    """Return BYDAY as dateutil must get it to unite plain and numbered weekdays.

    RFC 5545 reads "MO,-1SU" as every Monday and the last Sunday; dateutil would keep only days
    that are both. Every Monday is the 1st to 5th Monday of a month (1st to 53rd of a year).
    """
    if not (any(n for n, _ in rule.byday) and any(n == 0 for n, _ in rule.byday)):
        return rule.byday
    span = 5 if rule.freq == _rule.MONTHLY or rule.bymonth else 53
    plain = [(k, day) for n, day in rule.byday if n == 0 for k in range(1, span + 1)]
    return tuple(plain + [(n, day) for n, day in rule.byday if n])


def moved_start(rule: Recurrence, start: datetime, near: datetime) -> datetime:
    """Return ``start`` moved forward by whole periods of the rule to just before ``near``."""
    if near <= start:
        return start
    unit = FIXED_UNITS.get(rule.freq)
    if unit is not None:
        periods = (near - start) // (unit * rule.interval)
        return start + (periods - 1) * rule.interval * unit if periods >= 2 else start
    if rule.freq == _rule.MONTHLY:
        months = (near.year - start.year) * 12 + near.month - start.month
        periods = months // rule.interval
        if periods < 2:
            return start
        index = start.month - 1 + (periods - 1) * rule.interval
        return datetime(start.year + index // 12, index % 12 + 1, 1)
    periods = (near.year - start.year) // rule.interval
    if periods < 2:
        return start
    return datetime(start.year + (periods - 1) * rule.interval, 1, 1)
