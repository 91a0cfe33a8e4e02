"""Helpers shared by the beatcore-rrule tests (a uniquely named module, not a package)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

UTC = timezone.utc


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def chain(schedule: Any, start: datetime, until: datetime, limit: int = 5000) -> list[datetime]:
    """Return every occurrence after ``start`` up to ``until`` by chaining next_after.

    Each call gets a datetime in ``start``'s zone, as the scheduler passes the entry's zone.
    """
    found: list[datetime] = []
    current = start
    while len(found) < limit:
        nxt = schedule.next_after(current)
        if nxt is None or nxt > until:
            return found
        assert nxt > current, f"next_after({current}) went back to {nxt}"
        assert nxt.tzinfo is not None
        found.append(nxt)
        current = nxt.astimezone(start.tzinfo)
    raise AssertionError(f"more than {limit} occurrences")


MINUTE = timedelta(minutes=1)
