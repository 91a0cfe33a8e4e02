"""Plain-English descriptions of recurrence rules ("weekly on Mon, Wed at 09:00")."""

from __future__ import annotations

from datetime import datetime

from beatcore_rrule._rule import FREQUENCIES, Recurrence

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ONE = ("yearly", "monthly", "weekly", "daily", "hourly", "every minute", "every second")
_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")
#: How many times of day are listed before the description gives up on words.
_MOST_TIMES = 6


def _ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _weekday(n: int, day: int) -> str:
    if n == 0:
        return _DAY_NAMES[day]
    if n == -1:
        return f"last {_DAY_NAMES[day]}"
    if n < 0:
        return f"{_ordinal(-n)} last {_DAY_NAMES[day]}"
    return f"{_ordinal(n)} {_DAY_NAMES[day]}"


def _month_day(day: int) -> str:
    if day == -1:
        return "last day"
    return f"{_ordinal(-day)} last day" if day < 0 else f"day {day}"


def describe(
    rule: Recurrence, start: datetime | None, start_text: str | None, tz: str | None
) -> str:
    """Return words for ``rule`` counted from the wall time ``start``, with ``tz`` appended.

    The parts a rule leaves out come from ``start``; they are not described when it is None
    (a dtstart that is an instant has its wall time only in the zone the rule is asked in).
    ``start_text`` is how a real dtstart is written ("from ..."), None for the default anchor.
    Rules with BYSETPOS, BYYEARDAY or BYWEEKNO are given as RRULE text.
    """
    suffix = f", {tz}" if tz is not None else ""
    if rule.bysetpos or rule.byyearday or rule.byweekno:
        return f"rrule {rule.text()}{suffix}"
    level = rule.level
    words = [_ONE[level] if rule.interval == 1 else f"every {rule.interval} {_UNITS[level]}"]
    if rule.bymonth:
        words.append("in " + ", ".join(_MONTH_NAMES[m - 1] for m in rule.bymonth))
    days = ""
    if rule.byday:
        days = "on " + ", ".join(_weekday(n, day) for n, day in rule.byday)
    if rule.bymonthday:
        ordered = sorted(rule.bymonthday, key=lambda day: (day < 0, abs(day)))
        month_days = "on " + ", ".join(_month_day(day) for day in ordered)
        days = f"{days} if {month_days[3:]}" if days else month_days
    if not days and start is not None:
        if level == FREQUENCIES.index("WEEKLY"):
            days = f"on {_DAY_NAMES[start.weekday()]}"
        elif level == FREQUENCIES.index("MONTHLY"):
            days = f"on day {start.day}"
        elif level == FREQUENCIES.index("YEARLY") and not rule.bymonth:
            days = f"on {_MONTH_NAMES[start.month - 1]} {start.day}"
        elif level == FREQUENCIES.index("YEARLY"):
            days = f"on day {start.day}"
    if days:
        words.append(days)
    words.append(_times(rule, start))
    text = " ".join(word for word in words if word)
    if start_text is not None:
        text += f", from {start_text}"
    if rule.count is not None:
        text += f", {rule.count} times"
    if rule.until is not None:
        zulu = " UTC" if rule.until.tzinfo is not None else ""
        text += f", until {rule.until.replace(tzinfo=None).isoformat(sep=' ')}{zulu}"
    return text + suffix


def _times(rule: Recurrence, start: datetime | None) -> str:
    """Return "at 09:00, 17:30" (or "at minute 0, 30" for hourly rules), or ""."""
    level = rule.level
    if start is None:
        given = [f"{name} {_list(values)}" for name, values in
                 (("hours", rule.byhour), ("minutes", rule.byminute), ("seconds", rule.bysecond))
                 if values]  # fmt: skip
        return ("at " + ", ".join(given)) if given else ""
    hours = rule.byhour or ((start.hour,) if level < 4 else ())
    minutes = rule.byminute or ((start.minute,) if level < 5 else ())
    seconds = rule.bysecond or ((start.second,) if level < 6 else ())
    if level < 4:
        count = len(hours) * len(minutes) * len(seconds)
        if count > _MOST_TIMES:
            return f"at hours {_list(hours)}, minutes {_list(minutes)}"
        show_seconds = any(seconds)
        stamps = [
            f"{h:02d}:{m:02d}" + (f":{s:02d}" if show_seconds else "")
            for h in hours
            for m in minutes
            for s in seconds
        ]
        return "at " + ", ".join(stamps)
    parts = []
    if rule.byhour:
        parts.append(f"in hours {_list(rule.byhour)}")
    if level < 5 and minutes:
        parts.append(f"at minute {_list(minutes)}")
    if level < 6 and any(seconds):
        parts.append(f"at second {_list(seconds)}")
    return " ".join(parts)


def _list(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values))
