"""``Crontab``: cron expressions evaluated on the wall clock of a time zone."""

from __future__ import annotations

import bisect
import calendar
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.schedules.cron_days import DayRules
from beatcore.schedules.cron_syntax import (
    DAYS,
    FIELD_NAMES,
    FieldSpec,
    expression_texts,
    field_texts,
    select,
)
from beatcore.timeutil import UTC, next_on_real_time, require_aware, wall_to_instant, zone

_MINUTE = timedelta(minutes=1)
#: How far ahead :meth:`Crontab.next_after` looks before answering "never" (a Feb 29 that must
#: also be a Monday can be 28 years away).
_SEARCH_YEARS = 30
_LAST_YEAR = 9998
#: The two rules for a day when both day fields are restricted.
DAY_MATCHES = ("both", "either")
_FIELD_NAMES = frozenset(FIELD_NAMES) | {"tz", "day_match"}


def _check_tz(instance: object, attribute: object, value: str | None) -> None:
    if value is not None:
        if not isinstance(value, str):
            raise InvalidSchedule(f"crontab tz must be a zone name or None, got {value!r}")
        zone(value)


def _next_in(values: tuple[int, ...], current: int) -> int | None:
    """Return the smallest of the sorted ``values`` that is >= ``current``, or None."""
    index = bisect.bisect_left(values, current)
    return values[index] if index < len(values) else None


@attrs.frozen(init=False, repr=False)
class Crontab:
    """A cron schedule: ``Crontab("30 2 * * MON-FRI")`` or ``Crontab(minute=30, hour=2, ...)``.

    Fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC) and day of
    week (0-7 or SUN-SAT; 0 and 7 are both Sunday). Each accepts ``*`` (or ``?``), values, ranges
    ``a-b`` (wrapping around like Celery's, so ``FRI-MON``, ``22-2`` and ``JUL-MAY`` work),
    steps ``*/n``, ``a-b/n`` and ``a/n`` (from ``a`` to the end), and comma lists; a field may
    also be an int or an iterable of ints. Names are case-insensitive. The expression may be a
    macro (``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@midnight``,
    ``@hourly``). The day of month also takes ``L`` (the last day), ``15W`` (the weekday nearest
    the 15th) and ``LW`` (the last weekday); the day of week ``5L``/``FRIL`` (the last Friday)
    and ``FRI#2`` (the second Friday).

    ``day_match="both"`` (the default, Celery's rule): the day of month **and** the day of week
    must both match, so ``"0 0 13 * FRI"`` runs on Friday the 13th only. ``day_match="either"``
    is classic cron's rule: when both day fields are restricted (neither starts with ``*``), a
    day matches when either does, so the same expression runs on every 13th and every Friday.

    The schedule is evaluated on the wall clock of ``tz`` when given, else of the zone of the
    datetime passed to :meth:`next_after` (the scheduler passes the entry's zone). A job with a
    wildcard hour (``*``, ``?`` or ``*/n``) runs on real time: it fires at every instant the
    clock shows a matching time, so both passes through an hour repeated when clocks go back
    fire and a time inside a gap (clocks go forward) does not. A job with specific hours fires
    once per matching wall time: a time in a gap at the end of the gap, a repeated time at its
    first occurrence only.

    Equality and hashing compare the selected values, the day rules, ``day_match`` and ``tz``,
    not the spelling: ``Crontab("0-59 * * * *") == Crontab("* * * * *")``.
    """

    type_name: ClassVar[str] = "crontab"
    #: The keys of :meth:`to_dict`, in the order a form shows them.
    field_names: ClassVar[tuple[str, ...]] = (*FIELD_NAMES, "tz", "day_match")

    minutes: tuple[int, ...] = attrs.field()
    hours: tuple[int, ...] = attrs.field()
    days_of_month: tuple[int, ...] = attrs.field()
    months_of_year: tuple[int, ...] = attrs.field()
    days_of_week: tuple[int, ...] = attrs.field()
    tz: str | None = attrs.field(validator=_check_tz)
    #: The five fields as text, as given (ints and iterables written out); used by to_dict.
    texts: tuple[str, ...] = attrs.field(eq=False)
    #: ``"both"`` (Celery's rule, the default) or ``"either"`` (classic cron's).
    day_match: str = attrs.field(default="both")
    #: The ``L``, ``W`` and ``#`` items of the day fields, or None when there are none.
    day_rules: DayRules | None = attrs.field(default=None)
    #: The hour field is a wildcard (``*``, ``?``, ``*/n``): the job runs on real time.
    real_time: bool = attrs.field(default=False)
    #: Whether a day is decided by the two sets of numbers alone (the fast, common case).
    _plain_days: bool = attrs.field(default=True, eq=False)
    _either: bool = attrs.field(default=False, eq=False)

    def __init__(
        self,
        expression: str | None = None,
        *,
        minute: FieldSpec = "*",
        hour: FieldSpec = "*",
        day_of_month: FieldSpec = "*",
        month_of_year: FieldSpec = "*",
        day_of_week: FieldSpec = "*",
        tz: str | None = None,
        day_match: str = "both",
    ) -> None:
        given = (minute, hour, day_of_month, month_of_year, day_of_week)
        if day_match not in DAY_MATCHES:
            raise InvalidSchedule(
                f"crontab day_match must be 'both' (Celery's rule) or 'either' (classic cron's), "
                f"got {day_match!r}"
            )
        if expression is not None:
            if any(value != "*" for value in given):
                raise InvalidSchedule(
                    f"crontab takes either an expression or per-field arguments, not both "
                    f"(got {expression!r} and fields {given!r})"
                )
            texts = expression_texts(expression)
        else:
            texts = field_texts(given)
        selected = select(texts, day_match == "either")
        either = day_match == "either" and all(selected.restricted)
        minutes, hours, days_of_month, months_of_year, days_of_week = selected.values
        self.__attrs_init__(
            minutes,
            hours,
            days_of_month,
            months_of_year,
            days_of_week,
            tz,
            texts,
            day_match,
            selected.rules,
            selected.wildcard_hour,
            selected.rules is None and not either,
            either,
        )

    @property
    def expression(self) -> str:
        """Return the five fields as one cron expression string."""
        return " ".join(self.texts)

    def __repr__(self) -> str:
        tz = f", tz={self.tz!r}" if self.tz is not None else ""
        rule = ", day_match='either'" if self.day_match != "both" else ""
        return f"Crontab({self.expression!r}{tz}{rule})"

    def next_after(self, dt: datetime) -> datetime | None:
        """Return the first fire instant strictly after ``dt`` (aware, UTC), or None.

        Called by the scheduler after each run. The search walks wall-clock minutes of the zone
        from the minute after ``dt``'s local time, jumping over months, days and hours that
        cannot match, and gives up (None) after 30 years (or past the year 9998).
        """
        instant = require_aware(dt, "next_after argument")
        local_zone = zone(self.tz) if self.tz is not None else dt.tzinfo
        assert local_zone is not None  # require_aware refused naive datetimes
        moment = instant.astimezone(local_zone)
        # Stay clear of datetime.max, where the next wall minute cannot even be written down.
        last_year = min(moment.year + _SEARCH_YEARS, _LAST_YEAR)
        if moment.year > last_year:
            return None
        if self.real_time and local_zone is not UTC:
            return next_on_real_time(
                instant, moment, lambda wall: self._next_wall(wall, last_year), _MINUTE
            )
        # The wall-clock minute (naive); built, not replace()d: this runs for every dispatch.
        wall = datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute)
        wall += _MINUTE
        while True:
            candidate = self._next_wall(wall, last_year)
            if candidate is None:
                return None
            fire = wall_to_instant(candidate, local_zone)
            # A wall time repeated when clocks go back maps to its first occurrence, which may
            # already be behind ``dt``: skipping it is what keeps the second one from firing.
            if fire > instant:
                return fire.astimezone(UTC)
            wall = candidate + _MINUTE

    def _next_wall(self, wall: datetime, last_year: int) -> datetime | None:
        """Return the first naive wall time >= ``wall`` matching every field, or None."""
        while wall.year <= last_year:
            month = _next_in(self.months_of_year, wall.month)
            if month is None:
                wall = datetime(wall.year + 1, self.months_of_year[0], 1)
                continue
            if month != wall.month:
                wall = datetime(wall.year, month, 1)
            if not self._day_matches(wall):
                wall = datetime(wall.year, wall.month, wall.day) + timedelta(days=1)
                continue
            hour = _next_in(self.hours, wall.hour)
            if hour is None:
                wall = datetime(wall.year, wall.month, wall.day) + timedelta(days=1)
                continue
            if hour != wall.hour:
                wall = datetime(wall.year, wall.month, wall.day, hour)
            minute = _next_in(self.minutes, wall.minute)
            if minute is None:
                wall = datetime(wall.year, wall.month, wall.day, wall.hour) + timedelta(hours=1)
                continue
            return datetime(wall.year, wall.month, wall.day, wall.hour, minute)
        return None

    def _day_matches(self, wall: datetime) -> bool:
        cron_weekday = (wall.weekday() + 1) % 7
        if self._plain_days:
            return wall.day in self.days_of_month and cron_weekday in self.days_of_week
        length = calendar.monthrange(wall.year, wall.month)[1]
        rules = self.day_rules
        by_month = wall.day in self.days_of_month or (
            rules is not None and rules.day_of_month(wall.day, cron_weekday, length)
        )
        by_week = cron_weekday in self.days_of_week or (
            rules is not None and rules.day_of_week(wall.day, cron_weekday, length)
        )
        return (by_month or by_week) if self._either else (by_month and by_week)

    def to_dict(self) -> dict[str, Any]:
        """Return the five fields as text plus ``tz``; :meth:`from_dict` reads it back.

        ``day_match`` is written only when it is ``"either"``, so records of the default rule
        keep the bytes they always had.
        """
        data: dict[str, Any] = dict(zip(FIELD_NAMES, self.texts, strict=True))
        data["tz"] = self.tz
        if self.day_match != "both":
            data["day_match"] = self.day_match
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Crontab:
        """Build a Crontab from :meth:`to_dict` output; missing fields mean ``*``."""
        if not _FIELD_NAMES.issuperset(data):
            unknown = sorted(set(data) - _FIELD_NAMES)
            raise InvalidSchedule(
                f"crontab schedule has unknown fields {unknown!r}; "
                f"expected {sorted(_FIELD_NAMES)!r}"
            )
        fields = {name: data.get(name, "*") for name in FIELD_NAMES}
        return cls(tz=data.get("tz"), day_match=data.get("day_match", "both"), **fields)

    def describe(self) -> str:
        """Return "at 02:30 Mon-Fri (Europe/Berlin)" for simple cases, else the expression."""
        suffix = f" ({self.tz})" if self.tz is not None else ""
        simple = (
            len(self.minutes) == 1
            and len(self.hours) == 1
            and len(self.days_of_month) == 31
            and len(self.months_of_year) == 12
            and self.day_rules is None
        )
        if not simple:
            return f"cron {self.expression!r}{suffix}"
        days = "every day" if len(self.days_of_week) == 7 else _weekday_text(self.days_of_week)
        return f"at {self.hours[0]:02d}:{self.minutes[0]:02d} {days}{suffix}"


def _weekday_text(days: tuple[int, ...]) -> str:
    """Return "Mon-Fri" or "Mon,Wed,Sat-Sun": runs of consecutive days, Monday first."""
    positions = sorted((day - 1) % 7 for day in days)  # Monday is 0, Sunday 6
    runs: list[list[int]] = []
    for position in positions:
        if runs and runs[-1][-1] + 1 == position:
            runs[-1].append(position)
        else:
            runs.append([position])
    label = [name[:3].title() for name in DAYS[1:] + DAYS[:1]]
    return ",".join(
        label[run[0]] if len(run) == 1 else f"{label[run[0]]}-{label[run[-1]]}" for run in runs
    )
