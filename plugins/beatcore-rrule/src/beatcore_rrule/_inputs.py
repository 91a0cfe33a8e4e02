"""Reading the other inputs of an RRule: RFC 5545 text with DTSTART, and dateutil objects."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import UTC, zone, zone_name
from beatcore_rrule import _rule
from beatcore_rrule._rule import Recurrence


def _parse_dtstart(line: str, source: str) -> tuple[datetime, str | None]:
    """Parse a DTSTART line: ``DTSTART[;TZID=zone][;VALUE=DATE]:value``; return (value, tzid)."""
    head, colon, value = line.partition(":")
    if not colon:
        raise InvalidSchedule(f"rrule DTSTART line has no value: {line!r} in {source!r}")
    tzid = None
    for param in head.split(";")[1:]:
        key, _, param_value = param.partition("=")
        if key.strip().upper() == "TZID":
            tzid = param_value.strip()
        elif key.strip().upper() != "VALUE":
            raise InvalidSchedule(f"rrule DTSTART parameter {param!r} is not supported")
    parsed = _rule.parse_date_time("DTSTART", value, source)
    if tzid is not None and parsed.tzinfo is not None:
        raise InvalidSchedule(f"rrule DTSTART has both TZID and a UTC 'Z' value: {line!r}")
    return parsed, tzid


def split_text(text: str) -> tuple[Recurrence, datetime | None, str | None]:
    """Split "DTSTART...\\nRRULE:..." (or a bare rule) into the rule, dtstart and TZID."""
    rule_line: str | None = None
    dtstart: datetime | None = None
    tzid: str | None = None
    for raw in text.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        upper = line.upper()
        if upper.startswith("DTSTART"):
            if dtstart is not None:
                raise InvalidSchedule(f"rrule text has two DTSTART lines: {text!r}")
            dtstart, tzid = _parse_dtstart(line, text)
        elif upper.startswith(("RDATE", "EXDATE", "EXRULE")):
            raise InvalidSchedule(
                f"rrule {line.split(':')[0].split(';')[0]} is not supported (one RRULE only) "
                f"in {text!r}"
            )
        elif rule_line is not None:
            raise InvalidSchedule(f"rrule text must hold one RRULE, got another {line!r}")
        else:
            rule_line = line
    if rule_line is None:
        raise InvalidSchedule(f"rrule text has no RRULE: {text!r}")
    return _rule.parse_rule(rule_line), dtstart, tzid


def zone_key(value: tzinfo) -> str | None:
    """Return the IANA name of a zone object (zoneinfo, dateutil or UTC), or None if it has none."""
    candidates = [zone_name(value)]
    filename = getattr(value, "_filename", None)  # dateutil's tzfile keeps the file it read
    if isinstance(filename, str) and "zoneinfo/" in filename:
        candidates.append(filename.rsplit("zoneinfo/", 1)[1])
    try:
        if value.utcoffset(None) == timedelta(0) and value.tzname(None) == "UTC":
            candidates.append("UTC")
    except (TypeError, ValueError):  # zones that need a datetime to answer
        pass
    for candidate in candidates:
        try:
            zone(candidate)
        except InvalidSchedule:
            continue
        return candidate
    return None


def from_dateutil(obj: Any, tz: str | None) -> tuple[Recurrence, datetime | None, str | None]:
    """Read a ``dateutil.rrule.rrule``: its rule, its dtstart and the name of that one's zone.

    An aware dtstart's zone becomes the rule's zone unless ``tz`` is given; a zone without an
    IANA name is refused then, since the rule would otherwise silently follow another clock.
    """
    lines = [line for line in str(obj).splitlines() if line.startswith("RRULE:")]
    # str() writes UNTIL without its zone; take the datetime itself instead.
    parts = [p for p in lines[0][6:].split(";") if not p.startswith("UNTIL=")]
    recurrence = _rule.parse_rule(";".join(parts))
    until = getattr(obj, "_until", None)
    if until is not None:
        if until.tzinfo is not None:
            until = until.astimezone(UTC)
        recurrence = attrs.evolve(recurrence, until=until.replace(microsecond=0))
    dtstart: datetime | None = getattr(obj, "_dtstart", None)
    if dtstart is None or dtstart.tzinfo is None or tz is not None:
        return recurrence, dtstart, None
    name = zone_key(dtstart.tzinfo)
    if name is None:
        raise InvalidSchedule(
            f"rrule dtstart {dtstart.isoformat()!r} is in a zone without an IANA name "
            f"({dtstart.tzinfo!r}); pass tz= to say which wall clock the rule follows"
        )
    return recurrence, dtstart.replace(tzinfo=None), name
