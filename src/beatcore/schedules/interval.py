"""``Interval``: run every fixed period."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any, ClassVar

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import UTC, parse_isoformat, require_aware, wall_to_instant
from beatcore.values import shown


def _to_timedelta(value: timedelta | float | int) -> timedelta:
    try:
        return _checked_timedelta(value)
    except OverflowError:
        raise InvalidSchedule(
            f"interval of {shown(value)} seconds is too long (at most {timedelta.max.days} days)"
        ) from None


def _checked_timedelta(value: timedelta | float | int) -> timedelta:
    if type(value) is float or type(value) is int:
        # The common case (every stored interval is a float): the checks below, in short.
        if value > 0 and value != math.inf:
            every = timedelta(seconds=value)
            if every:
                return every
    elif isinstance(value, bool):
        raise InvalidSchedule(
            f"interval must be a timedelta or a number of seconds, got {shown(value)}"
        )
    if isinstance(value, timedelta):
        every = value
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InvalidSchedule(
                f"interval must be a finite number of seconds, got {shown(value)}"
            )
        every = timedelta(seconds=value)
    else:
        raise InvalidSchedule(
            f"interval must be a timedelta or a number of seconds, got {shown(value)}"
        )
    if every <= timedelta(0):
        raise InvalidSchedule(f"interval must be positive, got {every.total_seconds()} seconds")
    return every


def _optional_aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidSchedule(f"interval anchor must be an aware datetime, got {shown(value)}")
    return require_aware(value, "interval anchor")


_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
_DAY, _HOUR, _MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)


def _rounded(wall: datetime, every: timedelta) -> datetime:
    """Return the naive ``wall`` cut to the unit of ``every`` (day, hour, minute or second)."""
    if every >= _DAY:
        return datetime(wall.year, wall.month, wall.day)
    if every >= _HOUR:
        return datetime(wall.year, wall.month, wall.day, wall.hour)
    if every >= _MINUTE:
        return datetime(wall.year, wall.month, wall.day, wall.hour, wall.minute)
    return datetime(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second)


def _readings(wall: datetime, tz: tzinfo) -> list[datetime]:
    """Return the UTC instants the clock of ``tz`` shows ``wall`` (the end of a gap for none)."""
    if tz is UTC:
        return [wall.replace(tzinfo=UTC)]
    found = {wall_to_instant(wall, tz)}
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if second.astimezone(tz).replace(tzinfo=None) == wall:
        found.add(second)
    return sorted(found)


def _relative_next(start: datetime, every: timedelta) -> datetime:
    """Return Celery's relative deadline after ``start``: ``start + every`` cut to its unit.

    The cut is made on the wall clock of ``start``'s zone (the entry's), as Celery's
    ``delta_resolution`` does in the app's zone: the last boundary of the unit at or before
    ``start + every``, never at or before ``start``; a day period counts calendar days and
    lands on the first midnight after ``start``.
    """
    tz = start.tzinfo
    assert tz is not None
    start_utc = start.astimezone(UTC)
    local = start_utc.astimezone(tz).replace(tzinfo=None)
    if every >= _DAY:
        wall = local + every  # calendar days on the wall clock, not elapsed hours
        future = [t for t in _readings(_rounded(wall, every), tz) if t > start_utc]
        return min(future) if future else start_utc + every
    end = start_utc + every
    candidates = _readings(_rounded(end.astimezone(tz).replace(tzinfo=None), every), tz)
    before_end = [t for t in candidates if t <= end]
    deadline = max(before_end) if before_end else min(candidates)
    if deadline <= start_utc and every >= _MINUTE:
        # A clock turned back by part of the unit can put the cut before ``start``: look at
        # the next boundary too, in every reading.
        unit = _HOUR if every >= _HOUR else _MINUTE
        wall = _rounded(end.astimezone(tz).replace(tzinfo=None), every)
        for other in (wall + unit, _rounded(local + every, every)):
            candidates += _readings(other, tz)
        future = [t for t in candidates if t > start_utc]
        before_end = [t for t in future if t <= end]
        deadline = max(before_end) if before_end else min(future, default=end)
    # Periods under a second cannot be cut to a whole second after ``start``.
    return deadline if deadline > start_utc else end


@attrs.frozen
class Interval:
    """Every ``every`` (a timedelta or seconds).

    Without an ``anchor`` each occurrence follows the previous one by ``every``, as Celery's own
    ``schedule`` does; the first run comes one period after the entry is saved (or after its
    ``start_at``), rounded up to the second when ``every`` is whole seconds. With an
    ``anchor`` the occurrences are the fixed grid ``anchor + k * every``, the same in every
    process however late each run was.

    ``relative=True`` is Celery's ``schedule(every, relative=True)``: each occurrence is
    ``previous + every`` cut down to the unit of ``every`` (days, hours, minutes or seconds)
    on the wall clock of the entry's zone, so an hourly entry runs on the hour and a daily one
    at midnight. It cannot be combined with ``anchor``.
    """

    type_name: ClassVar[str] = "interval"
    #: The keys of :meth:`to_dict`, in the order a form shows them.
    field_names: ClassVar[tuple[str, ...]] = ("every", "anchor", "relative")

    every: timedelta = attrs.field(converter=_to_timedelta)
    anchor: datetime | None = attrs.field(default=None, converter=_optional_aware)
    relative: bool = attrs.field(default=False, kw_only=True)

    def __init__(
        self,
        every: timedelta | float | int,
        anchor: datetime | None = None,
        *,
        relative: bool = False,
    ) -> None:
        # Written here rather than generated by attrs: the usual interval (a positive
        # timedelta, no anchor, not relative) is set at once; anything else goes through
        # the converters and the check (_init_checked), as attrs' constructor did.
        if type(every) is timedelta and every > _NO_TIME and anchor is None and relative is False:
            _setters = _INTERVAL_SETTERS
            _setters[0](self, every)
            _setters[1](self, None)
            _setters[2](self, False)
        else:
            _init_checked(self, every, anchor, relative)

    def _check_relative(self, relative: object) -> None:
        if not isinstance(relative, bool):
            raise InvalidSchedule(f"interval relative must be True or False, got {relative!r}")
        if relative and self.anchor is not None:
            raise InvalidSchedule(
                f"interval takes relative=True or an anchor, not both (anchor "
                f"{self.anchor.isoformat()})"
            )

    def next_after(self, dt: datetime) -> datetime | None:
        """Return ``dt + every``, or the first grid point after ``dt`` when anchored.

        With ``relative`` the result is cut to the unit of ``every`` on the wall clock of
        ``dt``'s zone (see the class). Called after each run and when an entry is saved.
        """
        if self.relative:
            if dt.tzinfo is None or dt.utcoffset() is None:
                require_aware(dt, "next_after argument")  # raises, naming the naive value
            try:
                return _relative_next(dt, self.every)
            except OverflowError:  # past datetime.max: no occurrence left
                return None
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
        """Return ``{"every": seconds}`` plus ``anchor`` (ISO) and ``relative`` when set."""
        data: dict[str, Any] = {"every": self.every.total_seconds()}
        if self.anchor is not None:
            data["anchor"] = self.anchor.isoformat()
        if self.relative:
            data["relative"] = True  # written only when set: older records keep their bytes
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        """Build an Interval from :meth:`to_dict` output."""
        if "every" not in data:
            raise InvalidSchedule(f"interval schedule needs 'every' (seconds), got {dict(data)!r}")
        return cls(
            data["every"],
            parse_isoformat(data.get("anchor"), "interval anchor"),
            relative=data.get("relative", False),
        )

    def describe(self) -> str:
        """Return "every 5 minutes" style text."""
        seconds = self.every.total_seconds()
        for size, unit in _UNITS:
            if seconds >= size and seconds % size == 0:
                count = int(seconds // size)
                text = f"every {unit}" if count == 1 else f"every {count} {unit}s"
                break
        else:
            text = f"every {seconds:g} seconds"
        return f"{text}, cut to the {self._unit()} (relative)" if self.relative else text

    def _unit(self) -> str:
        for size, unit in _UNITS:
            if self.every.total_seconds() >= size:
                return unit
        return "second"


_NO_TIME = timedelta(0)
_INTERVAL_SETTERS = tuple(Interval.__dict__[f.name].__set__ for f in attrs.fields(Interval))


def _init_checked(interval: Interval, every: Any, anchor: Any, relative: Any) -> None:
    """Set ``interval``'s fields through their converters, then check ``relative``: the
    general path of Interval's constructor (what the attrs-generated one did)."""
    _INTERVAL_SETTERS[0](interval, _to_timedelta(every))
    _INTERVAL_SETTERS[1](interval, _optional_aware(anchor))
    _INTERVAL_SETTERS[2](interval, relative)
    interval._check_relative(relative)


def written_alike(schedule: object, other: object) -> bool:
    """A quick test that two schedules write the same dict: the same object, or two equal
    Intervals (an Interval's fields are its dict's, the anchor kept in UTC). False says
    nothing: the caller compares the dicts, or decides otherwise.

    Called for every entry :mod:`beatcore.entry_templates` is asked about and by
    :func:`beatcore.timing.timing_changed`.
    """
    return schedule is other or (type(schedule) is Interval is type(other) and schedule == other)
