"""Words for people: schedules, instants in an entry's zone, relative times, plain tables."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, tzinfo

import attrs

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
    widths = _widths([len(header) for header in headers], rows)
    return "\n".join(_line(line, widths) for line in [headers, *rows])


def _widths(widths: list[int], rows: Iterable[Sequence[str]]) -> list[int]:
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    return widths


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


@attrs.frozen
class PagedTable:
    """A :func:`table` printed a page of rows at a time, for a listing too long to hold.

    One page: exactly :func:`table` (with ``optional_last``, the last column only when a row
    has something in it). More: the header once, and each column as wide as the widest cell
    so far, never narrower (a longer cell on a later page widens its column from that page
    on), with the optional column always there; so a listing holds one page, never the whole.

    :param headers: the column headers.
    :param optional_last: the last column may be left out; an empty cell in it shows ``-``.
    """

    headers: tuple[str, ...]
    optional_last: bool = False

    def lines(self, pages: Iterable[Sequence[Sequence[str]]]) -> Iterator[str]:
        """Yield the table's lines (none when there are no rows), reading a page ahead."""
        walk = iter(pages)
        first = next(walk, None)
        if first is None:
            return
        second = next(walk, None)
        if second is None:
            headers, rows = list(self.headers), [self._filled(row) for row in first]
            if self.optional_last and not any(row[-1] for row in first):
                headers.pop()
                rows = [row[:-1] for row in rows]
            if rows:
                yield from table(headers, rows).split("\n")
            return
        widths = [len(header) for header in self.headers]
        header_shown = False
        for page in itertools.chain((first, second), walk):
            rows = [self._filled(row) for row in page]
            widths = _widths(widths, rows)
            if not header_shown:
                yield _line(self.headers, widths)
                header_shown = True
            for row in rows:
                yield _line(row, widths)

    def _filled(self, row: Sequence[str]) -> list[str]:
        cells = list(row)
        if self.optional_last and not cells[-1]:
            cells[-1] = "-"
        return cells


def shorten(text: str | None, width: int = 40) -> str:
    """Return ``text`` on one line, cut to ``width`` characters with an ellipsis; ``-`` if None."""
    if not text:
        return "-"
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
