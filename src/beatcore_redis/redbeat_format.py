"""RedBeat's stored schedule read and converted into beatcore entries (no RedBeat import).

RedBeat keeps, under its key prefix (``redbeat_key_prefix``, default ``redbeat:``):

- one hash per entry, at ``PREFIX + name``, with a ``definition`` field (JSON: name, task,
  args, kwargs, options, schedule, enabled) and a ``meta`` field (JSON: ``last_run_at`` and,
  once it ran under RedBeat's scheduler, ``total_run_count``);
- the sorted set ``PREFIX + ":schedule"`` of entry keys by due time;
- the set ``PREFIX + ":statics"`` of the names that came from ``beat_schedule``.

Objects inside that JSON carry a ``__type__``: ``datetime`` (wall fields and a zone name or an
offset in seconds), ``interval`` (``every`` seconds, ``relative``), ``crontab`` (the five fields
as given), ``rrule`` (dateutil's keywords; ``dtstart``/``until`` as epoch seconds with a
``*_tz`` offset in minutes) and ``weekday``. :func:`read_redbeat` reads those records and
:func:`convert` turns one into a :class:`Migrated` entry, or raises :class:`NotConvertible`
saying why; the command is :mod:`.redbeat`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from beatcore.entry import Entry
from beatcore.errors import BeatcoreError
from beatcore.migrating import Migrated, NotConvertible
from beatcore.plugins import Plugins
from beatcore.schedules import Crontab, Interval, ScheduleType, Solar
from beatcore.schedules.shared import shared_schedule
from beatcore.storekit import text as _text
from beatcore.timeutil import UTC
from beatcore.values import is_integer, is_number

DEFAULT_PREFIX = "redbeat:"
_FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_RRULE_LISTS = ("bysetpos", "bymonth", "bymonthday", "byyearday", "byweekno", "byhour",
                "byminute", "bysecond")  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _decode_object(data: dict[str, Any]) -> Any:
    """JSON object hook: RedBeat's ``datetime`` and ``weekday``; other objects stay dicts."""
    kind = data.get("__type__")
    if kind == "datetime":
        zone_field = data.get("timezone", "UTC")
        if isinstance(zone_field, (int, float)):
            tz: Any = timezone(timedelta(seconds=zone_field))
        else:
            from beatcore.timeutil import zone

            tz = zone(str(zone_field))
        fields = {k: int(data[k]) for k in ("year", "month", "day", "hour", "minute", "second")}
        return datetime(**fields, microsecond=int(data.get("microsecond", 0)), tzinfo=tz)
    if kind == "weekday":
        return int(data["wkday"])
    return data


def decode(text: bytes | str | None) -> Any:
    """Decode one RedBeat JSON field (``definition`` or ``meta``); None stays None."""
    if text is None:
        return None
    return json.loads(text, object_hook=_decode_object)


def _instant(seconds: Any, what: str) -> datetime:
    if not is_number(seconds):
        raise NotConvertible(f"rrule {what} is not a timestamp: {seconds!r}")
    return _EPOCH + timedelta(seconds=seconds)


def _rfc_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _offset_zone(minutes: Any) -> str:
    """Return an IANA zone with the fixed UTC offset RedBeat stored for an rrule's dtstart."""
    if not minutes:
        return "UTC"
    if not is_number(minutes) or minutes % 60:
        raise NotConvertible(
            f"rrule dtstart has a UTC offset of {minutes!r} minutes, which no IANA zone with "
            "a fixed offset matches (only whole hours do)"
        )
    hours = int(minutes // 60)
    # IANA's Etc/GMT zones count the other way round: Etc/GMT-1 is UTC+01:00.
    return f"Etc/GMT{-hours:+d}"


def _numbers(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value]
    if not all(is_integer(item) for item in items):
        raise NotConvertible(f"rrule value {value!r} is not a number or a list of numbers")
    return items


def rrule_text(fields: Mapping[str, Any]) -> tuple[str, str]:
    """Return (RFC 5545 text with DTSTART, zone of its wall clock) for RedBeat's rrule fields."""
    freq = fields.get("freq")
    if isinstance(freq, str) and freq.upper() in _FREQUENCIES:
        freq_name = freq.upper()
    elif isinstance(freq, int) and 0 <= freq < len(_FREQUENCIES):
        freq_name = _FREQUENCIES[freq]
    else:
        raise NotConvertible(f"rrule freq {freq!r} is not a known frequency")
    if fields.get("byeaster") not in (None, []):
        raise NotConvertible("rrule byeaster (dateutil's Easter extension) is not RFC 5545")
    parts = [f"FREQ={freq_name}"]
    if fields.get("interval") not in (None, 1):
        parts.append(f"INTERVAL={_numbers(fields['interval'])[0]}")
    if fields.get("count") is not None:
        parts.append(f"COUNT={_numbers(fields['count'])[0]}")
    if fields.get("until") is not None:
        parts.append(f"UNTIL={_rfc_time(_instant(fields['until'], 'until'))}")
    if fields.get("wkst") is not None:
        parts.append(f"WKST={_WEEKDAYS[_numbers(fields['wkst'])[0] % 7]}")
    for name in _RRULE_LISTS:
        if fields.get(name) not in (None, []):
            parts.append(f"{name.upper()}={','.join(map(str, _numbers(fields[name])))}")
    if fields.get("byweekday") not in (None, []):
        days = _numbers(fields["byweekday"])
        parts.append("BYDAY=" + ",".join(_WEEKDAYS[day % 7] for day in days))
    rule = "RRULE:" + ";".join(parts)
    zone_name = _offset_zone(fields.get("dtstart_tz", 0))
    if fields.get("dtstart") is None:
        return rule, zone_name
    start = _instant(fields["dtstart"], "dtstart")
    return f"DTSTART:{_rfc_time(start)}\n{rule}", zone_name


def convert_schedule(
    data: Any, plugins: Plugins
) -> tuple[ScheduleType, str | None, tuple[str, ...]]:
    """Return (schedule, entry tz or None, notes) for a RedBeat schedule object.

    :raises NotConvertible: unknown type or fields beatcore has no equivalent for.
    """
    if not isinstance(data, Mapping) or "__type__" not in data:
        raise NotConvertible(f"schedule {data!r:.80} has no __type__")
    kind = data["__type__"]
    try:
        if kind == "interval":
            every: Any = data.get("every")
            # relative=True as Celery (and so RedBeat) means it: the period cut to its unit.
            return Interval(every, relative=bool(data.get("relative"))), None, ()
        if kind == "crontab":
            fields = {
                key: data.get(key, "*")
                for key in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
            }
            return shared_schedule(Crontab, fields), None, ()
        if kind == "solar":
            event: Any = data.get("event")
            return Solar(event, data.get("lat"), data.get("lon")), None, ()
        if kind == "rrule":
            text, zone_name = rrule_text(data)
            try:
                cls: Any = plugins.schedule_type("rrule")
            except BeatcoreError as exc:
                raise NotConvertible(f"rrule needs the beatcore-rrule plugin ({exc})") from None
            build = getattr(cls, "from_text", cls)
            return build(text), zone_name, ()
    except (BeatcoreError, ValueError, TypeError) as exc:
        raise NotConvertible(f"{kind} schedule {data!r:.120}: {exc}") from None
    raise NotConvertible(f"schedule type {kind!r} has no beatcore equivalent")


def convert(name: str, definition: Any, meta: Any, *, static: bool, plugins: Plugins) -> Migrated:
    """Return the beatcore form of one RedBeat entry (decoded ``definition`` and ``meta``).

    :raises NotConvertible: with the reason.
    """
    if not isinstance(definition, Mapping):
        raise NotConvertible("the definition is not a JSON object")
    schedule, tz, notes = convert_schedule(definition.get("schedule"), plugins)
    meta = meta if isinstance(meta, Mapping) else {}
    last_run_at = meta.get("last_run_at")
    if last_run_at is not None and not isinstance(last_run_at, datetime):
        raise NotConvertible(f"meta last_run_at {last_run_at!r} is not a datetime")
    count = meta.get("total_run_count") or 0
    try:
        entry = Entry(
            name=name,
            task=str(definition.get("task") or ""),
            schedule=schedule,
            args=definition.get("args") or (),
            kwargs=definition.get("kwargs") or {},
            options=definition.get("options") or {},
            enabled=bool(definition.get("enabled", True)),
            tz=tz,
            static=static,
        )
    except BeatcoreError as exc:
        raise NotConvertible(str(exc)) from None
    return Migrated(entry, last_run_at.astimezone(UTC) if last_run_at else None, int(count), notes)


@attrs.frozen
class RedBeatRecord:
    """One RedBeat hash as read: its key, name and the two raw JSON fields."""

    key: str
    name: str
    definition: bytes | None
    meta: bytes | None


def read_redbeat(client: Any, prefix: str) -> tuple[list[RedBeatRecord], set[str]]:
    """Return RedBeat's entry records under ``prefix`` and the names of its static entries.

    Entries are the members of ``PREFIX:schedule`` plus any other hash under the prefix with a
    ``definition`` field (RedBeat drops a key it could not load from the sorted set).
    """
    reserved = {prefix + ":schedule", prefix + ":statics", prefix + ":lock"}
    keys = {_text(key) for key in client.zrange(prefix + ":schedule", 0, -1)}
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
    keys.update(_text(key) for key in client.scan_iter(match=pattern, count=1000))
    keys -= reserved
    ordered = sorted(keys)
    with client.pipeline(transaction=False) as pipe:
        for key in ordered:
            pipe.type(key)
        types = [_text(kind) for kind in pipe.execute()]
    hashes = [key for key, kind in zip(ordered, types, strict=True) if kind == "hash"]
    with client.pipeline(transaction=False) as pipe:
        for key in hashes:
            pipe.hmget(key, ["definition", "meta"])
        fields = pipe.execute()
    records = [
        RedBeatRecord(key, key[len(prefix) :], definition, meta)
        for key, (definition, meta) in zip(hashes, fields, strict=True)
        if definition is not None
    ]
    statics = {_text(name) for name in client.smembers(prefix + ":statics")}
    return records, statics
