"""``Interval``: run every fixed period."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import parse_isoformat, require_aware


def _to_timedelta(value: timedelta | float | int) -> timedelta:
    try:
        return _checked_timedelta(value)
    except OverflowError:
        raise InvalidSchedule(
            f"interval of {value!r} seconds is too long (at most {timedelta.max.days} days)"
        ) from None


def _checked_timedelta(value: timedelta | float | int) -> timedelta:
    if type(value) is float or type(value) is int:
        # The common case (every stored interval is a float): the checks below, in short.
        if value > 0 and value != math.inf:
            every = timedelta(seconds=value)
            if every:
                return every
    elif isinstance(value, bool):
        raise InvalidSchedule(f"interval must be a timedelta or a number of seconds, got {value!r}")
    if isinstance(value, timedelta):
        every = value
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InvalidSchedule(f"interval must be a finite number of seconds, got {value!r}")
        every = timedelta(seconds=value)
    else:
        raise InvalidSchedule(f"interval must be a timedelta or a number of seconds, got {value!r}")
    if every <= timedelta(0):
        raise InvalidSchedule(f"interval must be positive, got {every.total_seconds()} seconds")
    return every


def _optional_aware(value: datetime | None) -> datetime | None:
    return None if value is None else require_aware(value, "interval anchor")


_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


@attrs.frozen
class Interval:
    """Every ``every`` (a timedelta or seconds).

    Without an ``anchor`` each occurrence follows the previous one by ``every``, as Celery's own
    ``schedule`` does; the first run comes one period after the entry is saved (or after its
    ``start_at``), rounded up to the second when ``every`` is whole seconds. With an
    ``anchor`` the occurrences are the fixed grid ``anchor + k * every``, the same in every
    process however late each run was.
    """

    type_name: ClassVar[str] = "interval"

    every: timedelta = attrs.field(converter=_to_timedelta)
    anchor: datetime | None = attrs.field(default=None, converter=_optional_aware)

    def next_after(self, dt: datetime) -> datetime | None:
        """Return ``dt + every``, or the first grid point after ``dt`` when anchored."""
        dt = require_aware(dt, "next_after argument")
        if self.anchor is None and self.every.microseconds == 0 and dt.microsecond:
            # Whole-second periods give whole-second occurrences, so runs, task ids and
            # "every 5 seconds" after a start_at read as people expect.
            # (The next whole second; arithmetic, as replace() is slow.)
            dt = dt + timedelta(microseconds=1_000_000 - dt.microsecond)
        try:
            if self.anchor is None:
                return dt + self.every
            if dt < self.anchor:
                return self.anchor
            steps = (dt - self.anchor) // self.every + 1
            return self.anchor + steps * self.every
        except OverflowError:  # past datetime.max: no occurrence left
            return None

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"every": seconds, "anchor": iso-or-None}``."""
        data: dict[str, Any] = {"every": self.every.total_seconds()}
        if self.anchor is not None:
            data["anchor"] = self.anchor.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        """Build an Interval from :meth:`to_dict` output."""
        if "every" not in data:
            raise InvalidSchedule(f"interval schedule needs 'every' (seconds), got {dict(data)!r}")
        return cls(data["every"], parse_isoformat(data.get("anchor"), "interval anchor"))

    def describe(self) -> str:
        """Return "every 5 minutes" style text."""
        seconds = self.every.total_seconds()
        for size, unit in _UNITS:
            if seconds >= size and seconds % size == 0:
                count = int(seconds // size)
                return f"every {unit}" if count == 1 else f"every {count} {unit}s"
        return f"every {seconds:g} seconds"
