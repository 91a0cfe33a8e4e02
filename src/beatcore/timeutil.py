"""Time helpers shared by the core and by schedule types.

Inside beatcore every instant is an aware datetime in UTC. Calendar schedules are evaluated on
local wall-clock time in a zone and turned back into instants by :func:`wall_to_instant`, which
carries the DST rules of the design: a wall time that does not exist (spring forward) maps to the
first valid instant after the gap; an ambiguous wall time (fall back) maps to its first occurrence.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from beatcore.errors import InvalidSchedule

UTC = timezone.utc
_DAY = timedelta(days=1)

#: A clock is any zero-argument callable returning the current instant as an aware datetime.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current instant as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


def require_aware(value: datetime, what: str) -> datetime:
    """Return ``value`` in UTC; raise :class:`InvalidSchedule` naming ``what`` if it is naive."""
    tz = value.tzinfo
    if tz is UTC:
        return value
    if tz is None or tz.utcoffset(value) is None:
        raise InvalidSchedule(f"{what} must be a timezone-aware datetime, got naive {value!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01 at UTC+1: before the first instant in UTC
        raise InvalidSchedule(
            f"{what} {value.isoformat()} is outside the instants a datetime can hold in UTC"
        ) from None


def zone(name: str | tzinfo | None) -> tzinfo:
    """Return the time zone called ``name`` (an IANA key such as ``"Europe/Berlin"``).

    ``None`` means UTC. A tzinfo object is returned unchanged. Raises :class:`InvalidSchedule`
    naming the zone when it is unknown.
    """
    if name is None:
        return UTC
    if isinstance(name, tzinfo):
        return name
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(f"unknown time zone {name!r}") from exc


def zone_name(value: tzinfo) -> str:
    """Return the IANA key of a zone when it has one (``"UTC"`` for UTC), else ``str(zone)``."""
    if value is UTC:
        return "UTC"
    key = getattr(value, "key", None) or getattr(value, "zone", None)
    return str(key) if key else str(value)


def wall_to_instant(wall: datetime, tz: tzinfo) -> datetime:
    """Turn a naive local wall-clock time in ``tz`` into the UTC instant it fires at.

    An ambiguous time (it happens twice when clocks go back) gives its first occurrence. A time
    that does not exist (skipped when clocks go forward) gives the first instant after the gap,
    which is the transition itself.
    """
    if tz is UTC:
        return wall.replace(tzinfo=UTC, fold=0)
    first = wall.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(UTC)
    # The wall time exists when it survives the round trip, that is when the instant has the
    # offset the wall time was read with (cheaper than comparing the wall times).
    if instant.astimezone(tz).utcoffset() == first.utcoffset():
        return instant
    # ``wall`` lies in a gap. With fold=0 zoneinfo applies the offset from before the gap, so
    # ``instant`` is after the transition; with fold=1 it applies the later offset, so the
    # result is before it. Search the transition between the two, to the second.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = instant
    after = high.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(tz).utcoffset() == after:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


def next_on_real_time(
    instant: datetime,
    moment: datetime,
    first_wall_from: Callable[[datetime], datetime | None],
    step: timedelta,
) -> datetime | None:
    """Return the first instant after ``instant`` at which the clock shows a selected wall time.

    The rule of wildcard-hour jobs (real time): ``moment`` is ``instant`` in the schedule's
    zone, ``first_wall_from(wall)`` returns the first selected naive wall time at or after
    ``wall`` (or None: no more), and ``step`` is the schedule's resolution (a minute for cron).
    A wall time shown twice (clocks go back) gives two instants; one in a gap gives none.
    Returns an aware UTC datetime, or None.
    """
    offset = moment.utcoffset()
    assert offset is not None  # an aware moment
    if step == timedelta(minutes=1):
        floor = datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute)
    else:
        floor = datetime(
            moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second
        )
    candidate = first_wall_from(floor + step)
    if candidate is None:
        return None
    fire = (candidate - offset).replace(tzinfo=UTC)
    # Read with ``instant``'s offset, the candidate is the answer when the clock shows it then,
    # that is when no transition lies in between (two within a day do not happen; farther
    # apart they cancel out only if the candidate itself has one reading, checked below).
    shown = fire.astimezone(moment.tzinfo)
    if (
        shown.minute == candidate.minute
        and shown.hour == candidate.hour
        and shown.day == candidate.day
        and shown.second == candidate.second
    ):
        if fire - instant < _DAY:
            return fire
        tz = moment.tzinfo
        if (
            candidate.replace(tzinfo=tz).utcoffset() == offset
            and candidate.replace(tzinfo=tz, fold=1).utcoffset() == offset
        ):
            return fire
    return _real_time_near_transition(instant, moment, first_wall_from, step, floor + step)


def _real_time_near_transition(
    instant: datetime,
    moment: datetime,
    first_wall_from: Callable[[datetime], datetime | None],
    step: timedelta,
    start: datetime,
) -> datetime | None:
    """Return :func:`next_on_real_time`'s answer when a transition is near: by every reading."""
    tz = moment.tzinfo
    offset = moment.utcoffset()
    assert tz is not None and offset is not None
    other = moment.replace(fold=1 - moment.fold).utcoffset()
    if moment.fold == 0 and other is not None and other < offset:
        # ``instant`` is in the first pass through a repeated hour: the wall times it already
        # passed are shown again after the transition, so they are candidates too.
        start -= offset - other
    best: datetime | None = None
    highest = offset
    wall: datetime | None = start
    while wall is not None:
        candidate = first_wall_from(wall)
        if candidate is None:
            break
        for fold in (0, 1):
            local = candidate.replace(tzinfo=tz, fold=fold)
            reading = local.utcoffset()
            assert reading is not None
            highest = max(highest, reading)
            fire = (candidate - reading).replace(tzinfo=UTC)
            # A wall time in a gap does not survive the round trip: the clock never shows it.
            if fire.astimezone(tz).replace(tzinfo=None) != candidate:
                continue
            if fire > instant and (best is None or fire < best):
                best = fire
        # Later wall times fire no earlier than their wall time less the largest offset.
        if best is not None and candidate - highest >= best.replace(tzinfo=None):
            break
        wall = candidate + step
    return best


def to_local(instant: datetime, tz: tzinfo) -> datetime:
    """Return the naive wall-clock time of an aware ``instant`` in ``tz``."""
    return instant.astimezone(tz).replace(tzinfo=None)


def isoformat(value: datetime | None) -> str | None:
    """Return the ISO 8601 form of an aware datetime in UTC, or None."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return instant_text(value)


#: The ISO texts of the instants :func:`instant_text` was asked for last, at most
#: :data:`INSTANT_TEXTS_LIMIT` (cleared when full).
_INSTANT_TEXTS: dict[datetime, str] = {}
INSTANT_TEXTS_LIMIT = 4096
#: The text of each second those instants fell in (``YYYY-MM-DDTHH:MM:SS``), by its fields.
_SECOND_TEXTS: dict[tuple[int, int, int, int, int, int], str] = {}
#: "000" to "999": a microsecond's six digits are two of them.
_THREE_DIGITS = tuple(f"{n:03d}" for n in range(1000))


def instant_text(value: datetime) -> str:
    """Return ``value.isoformat()``, from a bounded cache when ``value`` is a datetime in UTC.

    Called for the occurrences of a tick (task ids, run records, message headers, states):
    one instant is the occurrence of every entry due then (a midnight burst writes the same
    text 100,000 times), and ``isoformat`` of an aware datetime costs about twenty times a
    look-up (it asks the zone for the offset). Equal datetimes in UTC have the same text, so
    the cache is keyed by the value. An instant not in it is written from its second's text
    (kept too: the instants of a tick share their seconds) and its microseconds, a quarter
    of what ``isoformat`` costs.
    """
    if type(value) is not datetime or value.tzinfo is not UTC:
        return value.isoformat()
    text = _INSTANT_TEXTS.get(value)
    if text is None:
        if len(_INSTANT_TEXTS) >= INSTANT_TEXTS_LIMIT:
            _INSTANT_TEXTS.clear()
            _SECOND_TEXTS.clear()
        key = (value.year, value.month, value.day, value.hour, value.minute, value.second)
        second = _SECOND_TEXTS.get(key)
        if second is None:  # isoformat's first 19 characters (a year has 4 digits)
            second = _SECOND_TEXTS[key] = value.isoformat()[:19]
        micro = value.microsecond
        if micro:
            digits = _THREE_DIGITS
            text = f"{second}.{digits[micro // 1000]}{digits[micro % 1000]}+00:00"
        else:  # isoformat leaves out a zero fraction
            text = second + "+00:00"
        _INSTANT_TEXTS[value] = text
    return text


def parse_isoformat(value: str | None, what: str) -> datetime | None:
    """Parse an ISO 8601 string written by :func:`isoformat`; naive values are refused."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise InvalidSchedule(f"{what} is not an ISO 8601 datetime: {value!r}") from exc
    return require_aware(parsed, what)
