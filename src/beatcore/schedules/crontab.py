"""``Crontab``: cron expressions evaluated on the wall clock of a time zone."""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import UTC, require_aware, wall_to_instant, zone

#: What a single crontab field may be given as: text, one number, or several numbers.
FieldSpec = str | int | Iterable[int | str]

_MINUTE = timedelta(minutes=1)
#: How far ahead :meth:`Crontab.next_after` looks before answering "never" (a Feb 29 that must
#: also be a Monday can be 28 years away).
_SEARCH_YEARS = 30
_LAST_YEAR = 9998

# Spelled out rather than taken from ``calendar``, whose names follow the process locale.
_MONTHS = (
    "",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@attrs.frozen
class _Field:
    """How one of the five fields is parsed: its name, bounds and the names it accepts."""

    name: str
    low: int
    high: int
    full_names: tuple[str, ...] = ()

    @property
    def names(self) -> dict[str, int]:
        """Return the accepted abbreviations ("jan", "mon") and the number each stands for."""
        return {name[:3]: number for number, name in enumerate(self.full_names) if name}


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day_of_month", 1, 31),
    _Field("month_of_year", 1, 12, _MONTHS),
    # 7 is accepted as Sunday, as in most crons; it is folded into 0 after expansion.
    _Field("day_of_week", 0, 7, _DAYS),
)
_NUMBER = re.compile(r"[0-9]+")
#: The values each valid five-field text selects, so a crontab read back from a store (for
#: every due entry on every tick) is not parsed again. Bounded: cleared when full.
_SELECTED: dict[tuple[str, ...], tuple[tuple[int, ...], ...]] = {}
_SELECTED_MAX = 4096
_FIELD_NAMES = frozenset(field.name for field in _FIELDS) | {"tz"}
_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+")


def _field_text(field: _Field, value: object) -> str:
    """Turn a field given as text, an int or an iterable of those into its text form."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        raise InvalidSchedule(f"crontab field {field.name!r} must not be a bool, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Iterable):
        items = list(value)
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise InvalidSchedule(
                    f"crontab field {field.name!r} must hold ints or names, got {item!r} "
                    f"in {value!r}"
                )
        return ",".join(str(item).strip() for item in items)
    raise InvalidSchedule(
        f"crontab field {field.name!r} must be a string, an int or an iterable of ints, "
        f"got {value!r}"
    )


def _value(field: _Field, token: str, expression: str) -> int:
    """Return the number a value token stands for, checked against the field's bounds."""
    if not _TOKEN.fullmatch(token):
        raise InvalidSchedule(
            f"crontab field {field.name!r} has invalid value {token!r} in {expression!r}"
        )
    if _NUMBER.fullmatch(token):
        number = int(token)
    else:
        # Names are matched on their first three letters; a longer token must be a prefix of
        # the full name ("tues", "sept", "monday").
        key = token.lower()
        number = field.names.get(key[:3], -1)
        if number < 0 or not field.full_names[number].startswith(key):
            allowed = f" (names: {', '.join(n.upper() for n in field.names)})" * bool(field.names)
            raise InvalidSchedule(
                f"crontab field {field.name!r} has invalid value {token!r} in "
                f"{expression!r}{allowed}"
            )
    if not field.low <= number <= field.high:
        raise InvalidSchedule(
            f"crontab field {field.name!r} has value {number} out of range "
            f"{field.low}-{field.high} in {expression!r}"
        )
    return number


def _expand_part(field: _Field, part: str, expression: str) -> list[int]:
    """Expand one comma-separated item (``*``, ``a``, ``a-b``, each optionally ``/step``)."""
    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not _NUMBER.fullmatch(step_text) or int(step_text) == 0:
            raise InvalidSchedule(
                f"crontab field {field.name!r} has step {step_text!r} that is not a positive "
                f"integer in {expression!r}"
            )
        step = int(step_text)
    # ``*`` and ``a/n`` run to Saturday (6): Sunday is 0, and 7 only when written out.
    top = 6 if field.name == "day_of_week" else field.high
    if base in ("*", "?"):
        values = list(range(field.low, top + 1))
    elif "-" in base:
        first_text, _, last_text = base.partition("-")
        if not first_text or not last_text:
            raise InvalidSchedule(
                f"crontab field {field.name!r} has invalid value {part!r} in {expression!r}"
            )
        first = _value(field, first_text, expression)
        last = _value(field, last_text, expression)
        if first == 7 and last < first:
            first = 0
        if first <= last:
            values = list(range(first, last + 1))
        else:
            # Celery accepts ranges that wrap around the end of the cycle ("FRI-MON", "22-2").
            values = list(range(first, top + 1)) + list(range(field.low, last + 1))
    else:
        first = _value(field, base, expression)
        values = list(range(first, max(top, first) + 1)) if slash else [first]
    return values[::step]


def _parse(field: _Field, text: str, expression: str) -> tuple[int, ...]:
    """Return the sorted values a field's text selects; raise InvalidSchedule naming it."""
    if not text:
        raise InvalidSchedule(f"crontab field {field.name!r} is empty in {expression!r}")
    values: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise InvalidSchedule(
                f"crontab field {field.name!r} has an empty list item in {expression!r}"
            )
        values.update(_expand_part(field, part, expression))
    if field.name == "day_of_week":
        values = {0 if v == 7 else v for v in values}
    return tuple(sorted(values))


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
    ``a-b`` (wrapping around like Celery's, so ``FRI-MON`` works), steps ``*/n``, ``a-b/n`` and
    ``a/n`` (from ``a`` to the end), and comma lists; a field may also be an int or an iterable of
    ints. Names are case-insensitive.

    As in Celery's ``crontab`` and unlike classic cron, the day of month **and** the day of week
    must both match: ``"0 0 13 * FRI"`` runs on Friday the 13th only, not on every 13th and
    every Friday.

    The schedule is evaluated on the wall clock of ``tz`` when given, else of the zone of the
    datetime passed to :meth:`next_after` (the scheduler passes the entry's zone). Wall times
    that fall into a DST gap fire once at the end of the gap; wall times that happen twice fire
    at their first occurrence only.

    Equality and hashing compare the selected values and ``tz``, not the spelling:
    ``Crontab("0-59 * * * *") == Crontab("* * * * *")``.
    """

    type_name: ClassVar[str] = "crontab"

    minutes: tuple[int, ...] = attrs.field()
    hours: tuple[int, ...] = attrs.field()
    days_of_month: tuple[int, ...] = attrs.field()
    months_of_year: tuple[int, ...] = attrs.field()
    days_of_week: tuple[int, ...] = attrs.field()
    tz: str | None = attrs.field(validator=_check_tz)
    #: The five fields as text, as given (ints and iterables written out); used by to_dict.
    texts: tuple[str, ...] = attrs.field(eq=False)

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
    ) -> None:
        given = (minute, hour, day_of_month, month_of_year, day_of_week)
        if expression is not None:
            if not isinstance(expression, str):
                raise InvalidSchedule(f"crontab expression must be a string, got {expression!r}")
            if any(value != "*" for value in given):
                raise InvalidSchedule(
                    f"crontab takes either an expression or per-field arguments, not both "
                    f"(got {expression!r} and fields {given!r})"
                )
            parts = expression.split()
            if len(parts) != 5:
                raise InvalidSchedule(
                    f"crontab expression must have 5 fields (minute hour day_of_month "
                    f"month_of_year day_of_week), got {len(parts)} in {expression!r}"
                )
            texts = tuple(parts)
        else:
            texts = tuple(
                _field_text(field, value) for field, value in zip(_FIELDS, given, strict=True)
            )
        values = _SELECTED.get(texts)
        if values is None:
            full = " ".join(texts)
            values = tuple(
                _parse(field, text, full) for field, text in zip(_FIELDS, texts, strict=True)
            )
            _check_possible(values[2], values[3], full)
            if len(_SELECTED) >= _SELECTED_MAX:
                _SELECTED.clear()
            _SELECTED[texts] = values
        minutes, hours, days_of_month, months_of_year, days_of_week = values
        self.__attrs_init__(minutes, hours, days_of_month, months_of_year, days_of_week, tz, texts)

    @property
    def expression(self) -> str:
        """Return the five fields as one cron expression string."""
        return " ".join(self.texts)

    def __repr__(self) -> str:
        tz = f", tz={self.tz!r}" if self.tz is not None else ""
        return f"Crontab({self.expression!r}{tz})"

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
        # The wall-clock minute (naive); built, not replace()d: this runs for every dispatch.
        local = datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute)
        # Stay clear of datetime.max, where the next wall minute cannot even be written down.
        last_year = min(local.year + _SEARCH_YEARS, _LAST_YEAR)
        if local.year > last_year:
            return None
        wall = local + _MINUTE
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
        return wall.day in self.days_of_month and cron_weekday in self.days_of_week

    def to_dict(self) -> dict[str, Any]:
        """Return the five fields as text plus ``tz``; :meth:`from_dict` reads it back."""
        data: dict[str, Any] = {
            field.name: text for field, text in zip(_FIELDS, self.texts, strict=True)
        }
        data["tz"] = self.tz
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
        fields = {field.name: data.get(field.name, "*") for field in _FIELDS}
        return cls(tz=data.get("tz"), **fields)

    def describe(self) -> str:
        """Return "at 02:30 Mon-Fri (Europe/Berlin)" for simple cases, else the expression."""
        suffix = f" ({self.tz})" if self.tz is not None else ""
        simple = (
            len(self.minutes) == 1
            and len(self.hours) == 1
            and len(self.days_of_month) == 31
            and len(self.months_of_year) == 12
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
    label = [name[:3].title() for name in _DAYS[1:] + _DAYS[:1]]
    return ",".join(
        label[run[0]] if len(run) == 1 else f"{label[run[0]]}-{label[run[-1]]}" for run in runs
    )


def _check_possible(
    days_of_month: tuple[int, ...], months_of_year: tuple[int, ...], expression: str
) -> None:
    """Refuse day/month combinations that never happen, such as 30 February."""
    for month in months_of_year:
        # 2000 is a leap year, so February counts its 29th.
        if days_of_month[0] <= calendar.monthrange(2000, month)[1]:
            return
    raise InvalidSchedule(
        f"crontab day_of_month {','.join(map(str, days_of_month))} never occurs in "
        f"month_of_year {','.join(map(str, months_of_year))} in {expression!r}"
    )
