"""Words for people: schedules, instants in an entry's zone, relative times, plain tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from beatcore import timing
from beatcore.entry import Entry
from beatcore.schedules import describe as describe_own
from beatcore.timeutil import UTC, zone, zone_name

#: Schedule types whose occurrences are instants, so the entry's zone does not change them.
_ZONELESS_TYPES = frozenset({"interval", "solar", "clocked"})


def entry_tz(entry: Entry, default_tz: str) -> tzinfo:
    """Return the zone the entry's times are shown in (its own, else the app's)."""
    return timing.entry_zone(entry, default_tz)


def format_instant(value: datetime | None, tz: tzinfo = UTC, *, seconds: bool = True) -> str:
    """Return ``2026-01-05 13:00:00 CET`` (``value`` in ``tz``), or ``-`` for None."""
    if value is None:
        return "-"
    local = value.astimezone(tz)
    stamp = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{stamp} {local.tzname() or zone_name(tz)}"


def amount(seconds: float) -> str:
    """Return a length of time for people: ``42 s``, ``5 min``, ``1 h 5 min``, ``3 d``."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours and days < 10 else f"{days} d"


def relative(value: datetime | None, now: datetime) -> str:
    """Return ``in 3 min``, ``2 h ago`` or ``now`` (within a second); ``-`` for None."""
    if value is None:
        return "-"
    delta = (value - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {amount(delta)}" if delta > 0 else f"{amount(delta)} ago"


def when(value: datetime | None, tz: tzinfo, now: datetime) -> str:
    """Return ``2026-01-05 13:00:00 CET (in 3 min)``, or ``-`` for None."""
    if value is None:
        return "-"
    return f"{format_instant(value, tz)} ({relative(value, now)})"


def describe_schedule(entry: Entry, default_tz: str) -> str:
    """Return the schedule in words: ``every 5 minutes``, ``at 09:00 Mon-Fri, Europe/Paris``.

    Calendar schedules get the zone they are evaluated in; a one-off time is shown in it.
    """
    schedule = entry.schedule
    tz_name = entry.tz or default_tz
    if schedule.type_name == "clocked":
        at = schedule.to_dict().get("at")
        instant = datetime.fromisoformat(at) if isinstance(at, str) else None
        if instant is not None:
            return f"once at {format_instant(instant, zone(tz_name))}"
    text = describe_own(schedule)
    own_tz = schedule.to_dict().get("tz")
    if schedule.type_name in _ZONELESS_TYPES or own_tz:
        return text
    return f"{text}, {tz_name}"


def duration(seconds: float) -> str:
    """Return ``90 s`` style text for a number of seconds (``0`` for zero)."""
    return "0" if not seconds else f"{seconds:g} s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a plain left-aligned table with a header line, columns two spaces apart."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def shorten(text: str | None, width: int = 40) -> str:
    """Return ``text`` on one line, cut to ``width`` characters with an ellipsis; ``-`` if None."""
    if not text:
        return "-"
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
