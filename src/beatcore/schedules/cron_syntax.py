"""The cron grammar: five fields of text in, the values and day rules they select out.

Parses what people write in crontab files and in Celery's ``crontab``: ``*`` and ``?``,
values and names (``JAN``, ``MON``), ranges that may wrap (``FRI-MON``, ``22-2``), steps
(``*/n``, ``a-b/n``, ``a/n``), lists, the macros ``@yearly`` ... ``@hourly``, and the day
rules of the wider dialect: ``L`` and ``nW``/``LW`` in the day of month, ``5L``/``FRIL`` and
``FRI#2`` in the day of week. :class:`~beatcore.schedules.crontab.Crontab` is the schedule
type built on it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.schedules.cron_days import DayRules
from beatcore.values import is_integer, shown

#: What a single crontab field may be given as: text, one number, or several numbers.
FieldSpec = str | int | Iterable[int | str]

# Spelled out rather than taken from ``calendar``, whose names follow the process locale.
_MONTHS = ("", "january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")  # fmt: skip
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")

#: The crontab macros and the five fields each stands for (``@reboot`` has no schedule).
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


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


FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day_of_month", 1, 31),
    _Field("month_of_year", 1, 12, _MONTHS),
    # 7 is accepted as Sunday, as in most crons; it is folded into 0 after expansion.
    _Field("day_of_week", 0, 7, DAYS),
)
FIELD_NAMES = tuple(field.name for field in FIELDS)
_DAY_OF_MONTH, _DAY_OF_WEEK = FIELDS[2], FIELDS[4]
_NUMBER = re.compile(r"[0-9]+")
_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+")
#: An hour field that is a wildcard (``*``, ``?``, ``*/n``): the job runs on real time.
_WILDCARD = re.compile(r"[*?](/[0-9]+)?")
#: The day-rule items: ``L``, ``LW``, ``15W`` (day of month); ``5L``, ``FRIL``, ``FRI#2``.
_NEAREST = re.compile(r"([0-9]+)W", re.IGNORECASE)
_LAST_WEEKDAY = re.compile(r"([0-9]+|[A-Za-z]{3,})L", re.IGNORECASE)
_NTH_WEEKDAY = re.compile(r"([0-9]+|[A-Za-z]+)#([0-9]+)")


@attrs.frozen
class Selection:
    """What five valid field texts select: the values of each field and the day rules."""

    values: tuple[tuple[int, ...], ...]
    rules: DayRules | None
    #: The hour field is ``*``, ``?`` or ``*/n``: the job runs on real time.
    wildcard_hour: bool
    #: Whether the day of month and the day of week are each restricted (not ``*``/``?``...).
    restricted: tuple[bool, bool]


def expression_texts(expression: str) -> tuple[str, ...]:
    """Return the five field texts of a cron expression or macro (``"@daily"``).

    :raises InvalidSchedule: not five fields, or an unknown macro.
    """
    if not isinstance(expression, str):
        raise InvalidSchedule(f"crontab expression must be a string, got {expression!r}")
    stripped = expression.strip()
    if stripped.startswith("@"):
        fields = MACROS.get(stripped.lower())
        if fields is None:
            raise InvalidSchedule(
                f"crontab macro {stripped!r} is unknown (known: {', '.join(MACROS)})"
            )
        return tuple(fields.split())
    parts = expression.split()
    if len(parts) != 5:
        raise InvalidSchedule(
            f"crontab expression must have 5 fields (minute hour day_of_month "
            f"month_of_year day_of_week), got {len(parts)} in {expression!r}"
        )
    return tuple(parts)


def field_texts(given: tuple[FieldSpec, ...]) -> tuple[str, ...]:
    """Return the text form of the five fields given as text, ints or iterables."""
    return tuple(_field_text(field, value) for field, value in zip(FIELDS, given, strict=True))


def _field_text(field: _Field, value: object) -> str:
    """Turn a field given as text, an int or an iterable of those into its text form."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        raise InvalidSchedule(f"crontab field {field.name!r} must not be a bool, got {value!r}")
    if isinstance(value, int):
        return _small(field, value)
    if isinstance(value, Iterable):
        items = list(value)
        for item in items:
            if not is_integer(item) and not isinstance(item, str):
                raise InvalidSchedule(
                    f"crontab field {field.name!r} must hold ints or names, got {shown(item)} "
                    f"in {shown(value)}"
                )
            if isinstance(item, int):
                _small(field, item)
        return ",".join(str(item).strip() for item in items)
    raise InvalidSchedule(
        f"crontab field {field.name!r} must be a string, an int or an iterable of ints, "
        f"got {value!r}"
    )


def _small(field: _Field, value: int) -> str:
    """Return ``str(value)``, refusing an int no field could hold (and ``str`` may not write)."""
    if not -(2**63) <= value < 2**63:
        raise InvalidSchedule(
            f"crontab field {field.name!r} value {shown(value)} out of range "
            f"{field.low}-{field.high}"
        )
    return str(value)


def select(texts: tuple[str, ...], either: bool = False) -> Selection:
    """Return what the five field texts select.

    ``either`` is the classic rule (a day matches when either day field does), under which
    a day of month that never occurs in the months is no error when the day of week is
    restricted. Parsed on every call: a schedule read back from a store is the shared object
    of :mod:`beatcore.schedules.shared`, so it is not parsed again.

    :raises InvalidSchedule: one line naming the field and the value that is wrong.
    """
    full = " ".join(texts)
    values: list[tuple[int, ...]] = []
    rules = _RulesBuilder()
    for field, text in zip(FIELDS, texts, strict=True):
        values.append(_parse(field, text, full, rules))
    day_rules = rules.build()
    restricted = (not texts[2].startswith(("*", "?")), not texts[4].startswith(("*", "?")))
    if not (either and all(restricted)):
        _check_possible(values[2], values[3], day_rules, full)
    return Selection(
        tuple(values), day_rules, _WILDCARD.fullmatch(texts[1]) is not None, restricted
    )


@attrs.define
class _RulesBuilder:
    """The day rules met while parsing, gathered into one :class:`DayRules`."""

    last_day: bool = False
    nearest: set[int] = attrs.field(factory=set)
    last_weekdays: set[int] = attrs.field(factory=set)
    nth: set[tuple[int, int]] = attrs.field(factory=set)

    def build(self) -> DayRules | None:
        if not (self.last_day or self.nearest or self.last_weekdays or self.nth):
            return None
        return DayRules(
            self.last_day,
            tuple(sorted(self.nearest)),
            tuple(sorted(self.last_weekdays)),
            tuple(sorted(self.nth)),
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


def _day_rule(field: _Field, part: str, expression: str, rules: _RulesBuilder) -> bool:
    """Record ``part`` when it is a day rule (``L``, ``15W``, ``FRIL``, ``FRI#2``).

    Returns False when ``part`` is an ordinary item.
    """
    upper = part.upper()
    if field is _DAY_OF_MONTH:
        if upper == "L":
            rules.last_day = True
        elif upper == "LW":
            rules.nearest.add(0)
        elif (match := _NEAREST.fullmatch(part)) is not None:
            rules.nearest.add(_value(field, match.group(1), expression))
        else:
            return False
        return True
    if field is _DAY_OF_WEEK:
        if (match := _LAST_WEEKDAY.fullmatch(part)) is not None:
            rules.last_weekdays.add(_value(field, match.group(1), expression) % 7)
        elif (match := _NTH_WEEKDAY.fullmatch(part)) is not None:
            nth = int(match.group(2))
            if not 1 <= nth <= 5:
                raise InvalidSchedule(
                    f"crontab field {field.name!r} has {part!r}: the number after '#' must be "
                    f"1-5 in {expression!r}"
                )
            rules.nth.add((_value(field, match.group(1), expression) % 7, nth))
        elif upper == "L":
            raise InvalidSchedule(
                f"crontab field {field.name!r} has {part!r}: write the weekday before L "
                f"(5L or FRIL, the last Friday) in {expression!r}"
            )
        else:
            return False
        return True
    return False


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
    top = 6 if field is _DAY_OF_WEEK else field.high
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
        if field is _DAY_OF_WEEK and first == 7 and last < first:
            first = 0  # "7-2" is Sunday to Tuesday, not a wrap
        if first <= last:
            values = list(range(first, last + 1))
        else:
            # A range that wraps around the end of its field, as Celery's: "FRI-MON" in days
            # of the week, "22-2" in hours, "25-5" in days of the month, "JUL-MAY" in months.
            values = list(range(first, top + 1)) + list(range(field.low, last + 1))
    else:
        first = _value(field, base, expression)
        values = list(range(first, max(top, first) + 1)) if slash else [first]
    return values[::step]


def _parse(field: _Field, text: str, expression: str, rules: _RulesBuilder) -> tuple[int, ...]:
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
        if not _day_rule(field, part, expression, rules):
            values.update(_expand_part(field, part, expression))
    if field is _DAY_OF_WEEK:
        values = {0 if v == 7 else v for v in values}
    return tuple(sorted(values))


def _check_possible(
    days_of_month: tuple[int, ...],
    months_of_year: tuple[int, ...],
    rules: DayRules | None,
    expression: str,
) -> None:
    """Refuse day/month combinations that never happen, such as 30 February."""
    days = set(days_of_month)
    if rules is not None:
        if rules.last_day or 0 in rules.nearest_weekdays:
            return
        days.update(rules.nearest_weekdays)
    if not days:
        return  # only day-of-week rules: every month has each weekday
    for month in months_of_year:
        # 2000 is a leap year, so February counts its 29th.
        if min(days) <= calendar.monthrange(2000, month)[1]:
            return
    raise InvalidSchedule(
        f"crontab day_of_month {','.join(map(str, sorted(days)))} never occurs in "
        f"month_of_year {','.join(map(str, months_of_year))} in {expression!r}"
    )
