"""The recurrence rule itself: RFC 5545 RRULE text and keyword arguments to one normal form.

:class:`Recurrence` holds the rule parts after validation, with lists sorted and deduplicated so
that two spellings of the same rule compare equal. It knows nothing about time zones; the
schedule type in :mod:`beatcore_rrule.schedule` evaluates it on a zone's wall clock.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import UTC

#: Frequencies in dateutil's order: the index is dateutil's constant (YEARLY = 0).
FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY, SECONDLY = FREQUENCIES
#: RFC 5545 weekday codes; the index is Python's ``weekday()`` (Monday = 0).
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

#: The integer BYxxx parts: RFC name, keyword name, allowed range, whether negatives are allowed.
_INT_PARTS: dict[str, tuple[str, int, int, bool]] = {
    "BYSETPOS": ("bysetpos", 1, 366, True),
    "BYMONTH": ("bymonth", 1, 12, False),
    "BYMONTHDAY": ("bymonthday", 1, 31, True),
    "BYYEARDAY": ("byyearday", 1, 366, True),
    "BYWEEKNO": ("byweekno", 1, 53, True),
    "BYHOUR": ("byhour", 0, 23, False),
    "BYMINUTE": ("byminute", 0, 59, False),
    "BYSECOND": ("bysecond", 0, 59, False),
}
_PART_ORDER = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYSETPOS", "BYMONTH", "BYMONTHDAY",
               "BYYEARDAY", "BYWEEKNO", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND")  # fmt: skip
_BYDAY = re.compile(r"([+-]?[0-9]{1,2})?([A-Z]{2})")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DATE_TIME = re.compile(r"([0-9]{8})(?:T([0-9]{6})(Z?))?")


def _fail(label: str, value: object, why: str, source: str | None) -> InvalidSchedule:
    where = f" in {source!r}" if source else ""
    return InvalidSchedule(f"rrule {label} {why}, got {value!r}{where}")


@attrs.frozen
class Recurrence:
    """One validated RRULE.

    ``until`` is naive (a wall time of the zone the rule is evaluated in) or aware UTC (an
    instant). ``byday`` holds ``(n, weekday)`` pairs, ``n == 0`` for "every such weekday".
    """

    freq: str
    interval: int = 1
    count: int | None = None
    until: datetime | None = None
    wkst: str = "MO"
    bysetpos: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    bymonthday: tuple[int, ...] = ()
    byyearday: tuple[int, ...] = ()
    byweekno: tuple[int, ...] = ()
    byday: tuple[tuple[int, int], ...] = ()
    byhour: tuple[int, ...] = ()
    byminute: tuple[int, ...] = ()
    bysecond: tuple[int, ...] = ()

    @property
    def level(self) -> int:
        """Return dateutil's frequency constant (YEARLY = 0 ... SECONDLY = 6)."""
        return FREQUENCIES.index(self.freq)

    def text(self) -> str:
        """Return the rule as RRULE text in a fixed part order ("FREQ=WEEKLY;BYDAY=MO,WE")."""
        values: dict[str, str] = {"FREQ": self.freq}
        if self.interval != 1:
            values["INTERVAL"] = str(self.interval)
        if self.count is not None:
            values["COUNT"] = str(self.count)
        if self.until is not None:
            values["UNTIL"] = format_date_time(self.until)
        if self.wkst != "MO":
            values["WKST"] = self.wkst
        for name, (keyword, *_) in _INT_PARTS.items():
            numbers: tuple[int, ...] = getattr(self, keyword)
            if numbers:
                values[name] = ",".join(map(str, numbers))
        if self.byday:
            values["BYDAY"] = ",".join(f"{n or ''}{WEEKDAYS[day]}" for n, day in self.byday)
        return ";".join(f"{name}={values[name]}" for name in _PART_ORDER if name in values)


def format_date_time(value: datetime) -> str:
    """Return RFC 5545 DATE-TIME text: ``20261231T235959`` (floating) or ``...Z`` (UTC)."""
    text = value.strftime("%Y%m%dT%H%M%S")
    return text + "Z" if value.tzinfo is not None else text


def parse_date_time(label: str, text: str, source: str | None) -> datetime:
    """Parse RFC 5545 DATE or DATE-TIME text; a DATE means the start of that day.

    A trailing ``Z`` gives an aware UTC datetime, otherwise the result is naive.
    """
    match = _DATE_TIME.fullmatch(text.strip())
    if match is None:
        raise _fail(label, text, "must be YYYYMMDD or YYYYMMDDTHHMMSS[Z]", source)
    date_text, time_text, zulu = match.groups()
    try:
        parsed = datetime.strptime(date_text + (time_text or "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        raise _fail(label, text, "is not a real date and time", source) from None
    return parsed.replace(tzinfo=UTC) if zulu else parsed


def _int(label: str, value: object, source: str | None) -> int:
    if isinstance(value, bool):
        raise _fail(label, value, "must be an integer", source)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise _fail(label, value, "must be an integer", source)


#: The largest INTERVAL or COUNT: dateutil keeps them in C ints.
_MOST = 2**31 - 1


def _positive(label: str, value: object, source: str | None) -> int:
    number = _int(label, value, source)
    if number < 1:
        raise _fail(label, value, "must be a positive integer", source)
    if number > _MOST:
        shown = value if number < 2**64 else f"an integer of {number.bit_length()} bits"
        raise _fail(label, shown, f"must be at most {_MOST}", source)
    return number


def _items(value: object) -> list[object]:
    """Split a list-valued part given as "1,2", a single value or an iterable of values."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def _int_list(name: str, value: object, label: str, source: str | None) -> tuple[int, ...]:
    _, low, high, signed = _INT_PARTS[name]
    numbers: set[int] = set()
    for item in _items(value):
        number = _int(label, item, source)
        if not (low <= number <= high or (signed and -high <= number <= -low)):
            bounds = f"{-high}..{-low} or {low}..{high}" if signed else f"{low}..{high}"
            raise _fail(label, item, f"values must be in {bounds}", source)
        numbers.add(number)
    return tuple(sorted(numbers))


def _weekday(label: str, value: object, source: str | None) -> tuple[int, int]:
    """Return ``(n, weekday)`` for "MO", "-1FR", an int 0-6 or a dateutil weekday object."""
    if isinstance(value, bool):
        raise _fail(label, value, "must be a weekday such as MO or -1FR", source)
    if isinstance(value, int):
        if 0 <= value <= 6:
            return 0, value
        raise _fail(label, value, "weekday numbers must be 0 (Monday) to 6 (Sunday)", source)
    if isinstance(value, str):
        match = _BYDAY.fullmatch(value.strip().upper())
        if match is None or match.group(2) not in WEEKDAYS:
            raise _fail(label, value, f"has an unknown weekday (use {','.join(WEEKDAYS)})", source)
        n = int(match.group(1)) if match.group(1) else 0
        if match.group(1) and not 1 <= abs(n) <= 53:
            raise _fail(label, value, "weekday position must be in -53..-1 or 1..53", source)
        return n, WEEKDAYS.index(match.group(2))
    day, n = getattr(value, "weekday", None), getattr(value, "n", 0)
    if isinstance(day, int) and 0 <= day <= 6 and (n is None or isinstance(n, int)):
        return _weekday(label, f"{n or ''}{WEEKDAYS[day]}", source)
    raise _fail(label, value, "must be a weekday such as MO or -1FR", source)


def _until(label: str, value: object, source: str | None) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return parse_date_time(label, value, source)
    raise _fail(label, value, "must be a datetime or RFC 5545 date-time text", source)


def _freq(label: str, value: object, source: str | None) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(FREQUENCIES):
        return FREQUENCIES[value]
    if isinstance(value, str) and value.strip().upper() in FREQUENCIES:
        return value.strip().upper()
    raise _fail(label, value, f"must be one of {', '.join(FREQUENCIES)}", source)


def build(parts: Mapping[str, object], source: str | None) -> Recurrence:
    """Return the Recurrence of ``parts``, keyed by RFC part name ("FREQ", "BYDAY", ...).

    ``source`` is the RRULE text the parts came from (quoted in errors), or None when they are
    keyword arguments, in which case errors name the keyword.

    :raises InvalidSchedule: naming the part and the value that is wrong.
    """

    def label(name: str) -> str:
        if source is not None:
            return name
        return {"BYDAY": "byweekday"}.get(name, _INT_PARTS.get(name, (name.lower(),))[0])

    if parts.get("FREQ") is None:
        raise InvalidSchedule(
            f"rrule {label('FREQ')} is required (one of {', '.join(FREQUENCIES)})"
            + (f" in {source!r}" if source else "")
        )
    fields: dict[str, Any] = {"freq": _freq(label("FREQ"), parts["FREQ"], source)}
    if parts.get("INTERVAL") is not None:
        fields["interval"] = _positive(label("INTERVAL"), parts["INTERVAL"], source)
    if parts.get("COUNT") is not None:
        fields["count"] = _positive(label("COUNT"), parts["COUNT"], source)
    if parts.get("UNTIL") is not None:
        until = _until(label("UNTIL"), parts["UNTIL"], source)
        fields["until"] = until.replace(microsecond=0)
    if parts.get("WKST") is not None:
        n, day = _weekday(label("WKST"), parts["WKST"], source)
        if n:
            raise _fail(label("WKST"), parts["WKST"], "must be a plain weekday", source)
        fields["wkst"] = WEEKDAYS[day]
    for name, (keyword, *_) in _INT_PARTS.items():
        if parts.get(name) is not None:
            fields[keyword] = _int_list(name, parts[name], label(name), source)
    if parts.get("BYDAY") is not None:
        days = {_weekday(label("BYDAY"), item, source) for item in _items(parts["BYDAY"])}
        fields["byday"] = tuple(sorted(days, key=lambda pair: (pair[1], pair[0])))
    recurrence = Recurrence(**fields)
    _check(recurrence, label, source)
    return recurrence


def parse_rule(text: str) -> Recurrence:
    """Parse RRULE text ("FREQ=WEEKLY;BYDAY=MO,WE", optionally prefixed by "RRULE:")."""
    source = text.strip()
    body = source[6:] if source.upper().startswith("RRULE:") else source
    parts: dict[str, str] = {}
    for item in body.split(";"):
        if not item.strip():
            continue
        name, equals, value = item.partition("=")
        name = name.strip().upper()
        if not equals or not value.strip():
            raise InvalidSchedule(f"rrule part {item.strip()!r} has no value in {source!r}")
        if name not in _PART_ORDER:
            raise InvalidSchedule(
                f"rrule part {name!r} is unknown or not supported in {source!r} "
                f"(supported: {', '.join(_PART_ORDER)})"
            )
        if name in parts:
            raise InvalidSchedule(f"rrule part {name} is given twice in {source!r}")
        parts[name] = value.strip()
    return build(parts, source)


def _check(rule: Recurrence, label: Callable[[str], str], source: str | None) -> None:
    """Refuse what RFC 5545 forbids and what can never produce an occurrence."""

    def refuse(name: str, why: str) -> InvalidSchedule:
        value = getattr(rule, {"BYDAY": "byday"}.get(name, name.lower()))
        if name == "BYDAY":
            value = ",".join(f"{n or ''}{WEEKDAYS[day]}" for n, day in value)
        return _fail(label(name), value, why, source)

    if rule.count is not None and rule.until is not None:
        raise InvalidSchedule(
            f"rrule takes {label('COUNT')} or {label('UNTIL')}, not both (RFC 5545)"
            + (f" in {source!r}" if source else "")
        )
    if rule.byweekno and rule.freq != YEARLY:
        raise refuse("BYWEEKNO", "is only allowed with FREQ=YEARLY")
    if rule.byyearday and rule.freq in (MONTHLY, WEEKLY, DAILY):
        raise refuse("BYYEARDAY", f"is not allowed with FREQ={rule.freq}")
    if rule.bymonthday and rule.freq == WEEKLY:
        raise refuse("BYMONTHDAY", "is not allowed with FREQ=WEEKLY")
    numbered = any(n for n, _ in rule.byday)
    if numbered and rule.freq not in (MONTHLY, YEARLY):
        raise refuse("BYDAY", "may only have numbered weekdays (1MO) with MONTHLY or YEARLY")
    if numbered and rule.byweekno:
        raise refuse("BYDAY", "may not have numbered weekdays together with BYWEEKNO")
    others = (rule.bymonth, rule.bymonthday, rule.byyearday, rule.byweekno, rule.byday,
              rule.byhour, rule.byminute, rule.bysecond)  # fmt: skip
    if rule.bysetpos:
        if not any(others):
            raise refuse("BYSETPOS", "needs another BYxxx part to select from")
        most = _most_per_period(rule)
        too_far = [pos for pos in rule.bysetpos if abs(pos) > most]
        if too_far:
            raise refuse(
                "BYSETPOS", f"selects position {too_far[0]} of a set of at most {most} per period"
            )
    if (rule.bymonthday or rule.byyearday) and not _some_day_matches(
        rule.bymonth, rule.bymonthday, rule.byyearday
    ):
        name = "BYMONTHDAY" if rule.bymonthday else "BYYEARDAY"
        raise refuse(name, "never matches a day of the months and year days selected")


_DAYS_PER_PERIOD = {YEARLY: 366, MONTHLY: 31, WEEKLY: 7}
_WEEKS_PER_PERIOD = {YEARLY: 53, MONTHLY: 5, WEEKLY: 1}


def _most_per_period(rule: Recurrence) -> int:
    """Return an upper bound of how many occurrences one period (one FREQ unit) holds."""
    days = _DAYS_PER_PERIOD.get(rule.freq, 1)
    if not (rule.byweekno or rule.byyearday or rule.bymonthday or rule.byday):
        # The day then comes from dtstart: one per month or week, one per month of BYMONTH.
        if rule.freq in (MONTHLY, WEEKLY):
            days = 1
        elif rule.freq == YEARLY:
            days = max(len(rule.bymonth), 1)
    if rule.byday and all(n == 0 for n, _ in rule.byday):
        days = min(days, len(rule.byday) * _WEEKS_PER_PERIOD.get(rule.freq, 1))
    if rule.bymonthday:
        days = min(days, len(rule.bymonthday) * (12 if rule.freq == YEARLY else 1))
    times = 1
    for level, values in ((HOURLY, rule.byhour), (MINUTELY, rule.byminute)):
        if rule.level < FREQUENCIES.index(level):
            times *= max(len(values), 1)
    if rule.level < FREQUENCIES.index(SECONDLY):
        times *= max(len(rule.bysecond), 1)
    return days * times


@functools.lru_cache(maxsize=256)
def _some_day_matches(
    months: tuple[int, ...], month_days: tuple[int, ...], year_days: tuple[int, ...]
) -> bool:
    """Return True when some day of a leap or common year fits every day-level filter given."""
    for year in (2000, 2001):
        year_length = 366 if calendar.isleap(year) else 365
        for month in months or range(1, 13):
            length = calendar.monthrange(year, month)[1]
            for day in range(1, length + 1):
                if month_days and day not in month_days and day - length - 1 not in month_days:
                    continue
                year_day = (datetime(year, month, day) - datetime(year, 1, 1)).days + 1
                if year_days and not (
                    year_day in year_days or year_day - year_length - 1 in year_days
                ):
                    continue
                return True
    return False


#: Length of one FREQ unit for the frequencies that have a fixed length on the wall clock.
FIXED_UNITS = {
    WEEKLY: timedelta(weeks=1),
    DAILY: timedelta(days=1),
    HOURLY: timedelta(hours=1),
    MINUTELY: timedelta(minutes=1),
    SECONDLY: timedelta(seconds=1),
}
