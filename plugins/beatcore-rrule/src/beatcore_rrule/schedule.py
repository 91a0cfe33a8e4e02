"""``RRule``: an RFC 5545 recurrence rule evaluated on the wall clock of a time zone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any, ClassVar

import attrs
from dateutil import rrule as dateutil_rrule

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import (
    UTC,
    next_on_real_time,
    require_aware,
    to_local,
    wall_to_instant,
    zone,
)
from beatcore_rrule import _rule
from beatcore_rrule._expand import check_occurs, to_dateutil
from beatcore_rrule._inputs import from_dateutil, split_text, zone_key
from beatcore_rrule._rule import Recurrence

#: The wall time a rule without ``dtstart`` counts from: a Monday, 1 January, at midnight, so
#: the parts a rule leaves out default to the start of their period (weekly on Mondays, monthly
#: on the 1st, daily at 00:00).
ANCHOR = datetime(2024, 1, 1)
#: How far ahead :meth:`RRule.next_after` looks before answering "never".
_SEARCH_YEARS = 30
_LAST_YEAR = 9998
#: The frequencies that run on real time when the rule pins no hour (no BYHOUR).
_SUB_DAILY = frozenset((_rule.HOURLY, _rule.MINUTELY, _rule.SECONDLY))
_SECOND = timedelta(seconds=1)
#: How far before ``dt`` a real-time search may look (the wall times of a repeated hour).
_REPEAT_MARGIN = timedelta(hours=3)
_KEYWORDS = ("freq", "interval", "count", "until", "wkst", "bysetpos", "bymonth", "bymonthday",
             "byyearday", "byweekno", "byweekday", "byhour", "byminute", "bysecond")  # fmt: skip


def _part_name(keyword: str) -> str:
    return "BYDAY" if keyword == "byweekday" else keyword.upper()


def _check_tz(tz: object) -> str | None:
    """Return the zone name of ``tz`` (a name or a zone object with one); refuse others."""
    if tz is None:
        return None
    if isinstance(tz, tzinfo):
        key = zone_key(tz)
        if key is None:
            raise InvalidSchedule(f"rrule tz {tz!r} has no IANA name; pass one like 'Europe/Paris'")
        return key
    if not isinstance(tz, str):
        raise InvalidSchedule(f"rrule tz must be a zone name such as 'Europe/Paris', got {tz!r}")
    try:
        zone(tz)
    except InvalidSchedule:
        raise InvalidSchedule(f"rrule tz is an unknown time zone: {tz!r}") from None
    return tz


def _normal_dtstart(value: object, tz: str | None) -> datetime | None:
    """Return dtstart as a naive wall time of ``tz``, or as a UTC instant when tz is None."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidSchedule(f"rrule dtstart must be a datetime, got {value!r}")
    value = value.replace(microsecond=0)
    aware = value.tzinfo is not None and value.utcoffset() is not None
    if tz is None:
        if not aware:
            raise InvalidSchedule(
                f"rrule dtstart {value.isoformat()!r} is naive and no tz is given: pass tz= "
                "(the zone of its wall time) or an aware dtstart"
            )
        return value.astimezone(UTC)
    return to_local(value, zone(tz)) if aware else value


def _normal_until(recurrence: Recurrence, tz: str | None) -> Recurrence:
    """Return the rule with an aware UNTIL in UTC; a naive UNTIL (a wall time) needs ``tz``."""
    until = recurrence.until
    if until is None:
        return recurrence
    if until.tzinfo is not None and until.utcoffset() is not None:
        return attrs.evolve(recurrence, until=until.astimezone(UTC))
    if tz is None:
        raise InvalidSchedule(
            f"rrule until {until.isoformat()!r} is naive and no tz is given: pass tz= or an "
            "aware (UTC) until"
        )
    return recurrence


@attrs.frozen(init=False, repr=False)
class RRule:
    """An RFC 5545 recurrence rule as a beatcore schedule type.

    Build it from RRULE text, optionally with a DTSTART line::

        RRule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0", tz="Europe/Paris")
        RRule("DTSTART;TZID=Europe/Paris:20260105T090000\\nRRULE:FREQ=DAILY;COUNT=10")

    or from dateutil-style keywords (``freq``, ``interval``, ``count``, ``until``, ``wkst``,
    ``bysetpos``, ``bymonth``, ``bymonthday``, ``byyearday``, ``byweekno``, ``byweekday``,
    ``byhour``, ``byminute``, ``bysecond``)::

        RRule(freq="weekly", byweekday=["MO", "WE"], byhour=9, byminute=0, tz="Europe/Paris")

    or from a ``dateutil.rrule.rrule`` object.

    The rule runs on the wall clock of ``tz``, or of the zone of the datetime given to
    :meth:`next_after` when ``tz`` is None (the scheduler passes the entry's zone). A naive
    ``dtstart`` is a wall time of ``tz`` and needs one; an aware ``dtstart`` is an instant.
    Without ``dtstart`` the rule counts from Monday 2024-01-01 00:00 on that wall clock, so
    omitted parts mean the start of their period; ``COUNT`` needs an explicit ``dtstart``.

    ``HOURLY``, ``MINUTELY`` and ``SECONDLY`` rules without ``BYHOUR`` run on real time, like
    a crontab with a wildcard hour: they fire at every instant the clock shows one of their
    wall times, so both passes through a repeated hour fire and a wall time in a gap does
    not. Every other rule fires once per wall time: a wall time that does not exist (clocks
    go forward) at the first instant after the gap, one that happens twice (clocks go back)
    at its first occurrence only.
    """

    type_name: ClassVar[str] = "rrule"
    #: The keys of :meth:`to_dict`, in the order a form shows them.
    field_names: ClassVar[tuple[str, ...]] = ("rule", "dtstart", "tz")

    recurrence: Recurrence
    dtstart: datetime | None
    tz: str | None

    def __init__(
        self,
        rule: str | dateutil_rrule.rrule | None = None,
        *,
        dtstart: datetime | None = None,
        tz: str | tzinfo | None = None,
        **keywords: Any,
    ) -> None:
        unknown = sorted(set(keywords) - set(_KEYWORDS))
        if unknown:
            raise InvalidSchedule(
                f"rrule got unknown keyword(s) {', '.join(unknown)} "
                f"(known: rule, dtstart, tz, {', '.join(_KEYWORDS)})"
            )
        tz_name = _check_tz(tz)
        tzid: str | None = None
        text_start: datetime | None = None
        if rule is not None:
            if keywords:
                raise InvalidSchedule(
                    f"rrule takes either rule text or keywords, not both (got {rule!r} and "
                    f"{', '.join(sorted(keywords))})"
                )
            if isinstance(rule, dateutil_rrule.rrule):
                recurrence, text_start, tzid = from_dateutil(rule, tz_name)
            elif isinstance(rule, str):
                recurrence, text_start, tzid = split_text(rule)
            else:
                raise InvalidSchedule(
                    f"rrule rule must be RRULE text or a dateutil rrule, got {rule!r}"
                )
        else:
            parts = {_part_name(k): v for k, v in keywords.items()}
            recurrence = _rule.build(parts, None)
        if text_start is not None:
            if dtstart is not None:
                raise InvalidSchedule(
                    f"rrule dtstart is given twice: in the rule ({text_start.isoformat()}) and "
                    f"as dtstart= ({dtstart!r})"
                )
            dtstart = text_start
        if tzid is not None:
            _check_tz(tzid)
            if tz_name is not None and tz_name != tzid:
                raise InvalidSchedule(
                    f"rrule tz {tz_name!r} contradicts the rule's DTSTART TZID {tzid!r}"
                )
            tz_name = tzid
        start = _normal_dtstart(dtstart, tz_name)
        if recurrence.count is not None and start is None:
            raise InvalidSchedule(f"rrule COUNT={recurrence.count} needs a dtstart to count from")
        self.__attrs_init__(_normal_until(recurrence, tz_name), start, tz_name)
        # Find a rule that never occurs now rather than at the first tick (where dateutil may
        # search until the year 9999), unless the start's wall time depends on the zone the
        # rule will be asked in.
        if start is None or start.tzinfo is None:
            check_occurs(self.recurrence, self._start_wall(UTC))

    @property
    def rule(self) -> str:
        """Return the rule as RRULE text, without DTSTART ("FREQ=WEEKLY;BYDAY=MO,WE")."""
        return self.recurrence.text()

    def __repr__(self) -> str:
        start = f", dtstart={self.dtstart!r}" if self.dtstart is not None else ""
        tz = f", tz={self.tz!r}" if self.tz is not None else ""
        return f"RRule({self.rule!r}{start}{tz})"

    def next_after(self, dt: datetime) -> datetime | None:
        """Return the first fire instant strictly after ``dt`` (aware, UTC), or None.

        None when COUNT or UNTIL are used up, or when nothing happens in the next 30 years.
        Called by the scheduler after each run and when an entry is saved.
        """
        instant = require_aware(dt, "rrule next_after argument")
        local_zone = zone(self.tz) if self.tz is not None else dt.tzinfo
        assert local_zone is not None  # require_aware refused naive datetimes
        local = to_local(instant, local_zone)
        last_year = min(local.year + _SEARCH_YEARS, _LAST_YEAR)
        if local.year > last_year:
            return None
        until = self.recurrence.until
        if self.real_time and local_zone is not UTC:
            fire = self._next_on_real_time(instant, local_zone, last_year)
            if fire is None or (until is not None and until.tzinfo is not None and fire > until):
                return None
            return fire
        for wall in self._walls_after(local, local_zone):
            if wall.year > last_year:
                return None
            fire = wall_to_instant(wall, local_zone)
            # A wall time repeated when clocks go back maps to its first occurrence, which may
            # already be behind ``dt``: skipping it keeps the second one from firing.
            if fire <= instant:
                continue
            if until is not None and until.tzinfo is not None and fire > until:
                return None
            return fire.astimezone(UTC)
        return None

    @property
    def real_time(self) -> bool:
        """Return True for a sub-daily rule that pins no hour: it runs on real time."""
        return self.recurrence.freq in _SUB_DAILY and not self.recurrence.byhour

    def _next_on_real_time(
        self, instant: datetime, local_zone: Any, last_year: int
    ) -> datetime | None:
        moment = instant.astimezone(local_zone)
        near = moment.replace(tzinfo=None) - _REPEAT_MARGIN
        rule = to_dateutil(self.recurrence, self._start_wall(local_zone), near)

        def first_wall_from(wall: datetime) -> datetime | None:
            try:
                found: datetime | None = rule.after(wall, inc=True)
            except ValueError as exc:  # dateutil finds some empty rules only while iterating
                raise InvalidSchedule(f"rrule {self.rule!r} cannot be evaluated: {exc}") from exc
            return None if found is None or found.year > last_year else found

        return next_on_real_time(instant, moment, first_wall_from, _SECOND)

    def _walls_after(self, local: datetime, local_zone: Any) -> Iterator[datetime]:
        rule = to_dateutil(self.recurrence, self._start_wall(local_zone), local)
        try:
            yield from rule.xafter(local, inc=False)
        except ValueError as exc:  # dateutil finds some empty rules only while iterating
            raise InvalidSchedule(f"rrule {self.rule!r} cannot be evaluated: {exc}") from exc

    def _start_wall(self, local_zone: Any) -> datetime:
        if self.dtstart is None:
            return ANCHOR
        if self.dtstart.tzinfo is None:
            return self.dtstart
        return to_local(self.dtstart, local_zone)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"rule": RRULE text, "dtstart": ISO text or None, "tz": zone or None}``.

        ``dtstart`` is a naive ISO wall time when ``tz`` is set, else an ISO instant in UTC.
        """
        start = None if self.dtstart is None else self.dtstart.isoformat()
        return {"rule": self.rule, "dtstart": start, "tz": self.tz}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RRule:
        """Build an RRule from :meth:`to_dict` output.

        :raises InvalidSchedule: naming the missing, unknown or invalid field.
        """
        unknown = sorted(set(data) - {"rule", "dtstart", "tz"})
        if unknown:
            raise InvalidSchedule(
                f"rrule schedule has unknown field(s) {unknown!r}; expected rule, dtstart, tz"
            )
        rule = data.get("rule")
        if not isinstance(rule, str):
            raise InvalidSchedule(f"rrule schedule field 'rule' must be RRULE text, got {rule!r}")
        start_text = data.get("dtstart")
        start: datetime | None = None
        if start_text is not None:
            try:
                start = datetime.fromisoformat(start_text)
            except (TypeError, ValueError):
                raise InvalidSchedule(
                    f"rrule schedule field 'dtstart' is not an ISO 8601 datetime: {start_text!r}"
                ) from None
        return cls(rule, dtstart=start, tz=data.get("tz"))

    def describe(self) -> str:
        """Return words for the rule: "weekly on Mon, Wed at 09:00, Europe/Paris"."""
        from beatcore_rrule._words import describe

        if self.dtstart is None:
            return describe(self.recurrence, ANCHOR, None, self.tz)
        if self.dtstart.tzinfo is None:
            return describe(self.recurrence, self.dtstart, self.dtstart.isoformat(" "), self.tz)
        instant = f"{self.dtstart.replace(tzinfo=None).isoformat(' ')} UTC"
        return describe(self.recurrence, None, instant, self.tz)
