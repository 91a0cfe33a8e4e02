"""django-celery-beat's tables read and converted into beatcore entries (no Django import).

django-celery-beat keeps one row per periodic task in ``django_celery_beat_periodictask``
(task, args and kwargs as JSON text, queue, exchange, routing key, priority, headers,
``expires``, ``expire_seconds``, ``one_off``, ``start_time``, ``enabled``, ``last_run_at``,
``total_run_count``) pointing at one schedule row: an interval (``every`` and a ``period``),
a crontab (five fields and a ``timezone``), a solar event or a clocked time. :func:`read_tasks`
reads them all with one query from a PostgreSQL or SQLite database; :func:`convert` turns one
row into a beatcore entry with its run history, or raises :class:`NotConvertible` saying why.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from beatcore.entry import Entry
from beatcore.errors import BeatcoreError
from beatcore.migrating import Migrated, NotConvertible
from beatcore.schedules import Clocked, Crontab, Interval, ScheduleType, Solar
from beatcore.schedules.shared import shared_schedule
from beatcore.timeutil import UTC

#: The task django-celery-beat adds for Celery's result cleanup; beatcore's scheduler adds its
#: own where Celery would, so it is not migrated.
BACKEND_CLEANUP = "celery.backend_cleanup"

_QUERY = """
    SELECT t.name, t.task, t.args, t.kwargs, t.queue, t.exchange, t.routing_key, t.headers,
           t.priority, t.expires, t.expire_seconds, t.one_off, t.start_time, t.enabled,
           t.last_run_at, t.total_run_count, t.description,
           i.every, i.period,
           c.minute, c.hour, c.day_of_week, c.day_of_month, c.month_of_year, c.timezone,
           s.event, s.latitude, s.longitude,
           k.clocked_time
      FROM django_celery_beat_periodictask AS t
      LEFT JOIN django_celery_beat_intervalschedule AS i ON i.id = t.interval_id
      LEFT JOIN django_celery_beat_crontabschedule AS c ON c.id = t.crontab_id
      LEFT JOIN django_celery_beat_solarschedule AS s ON s.id = t.solar_id
      LEFT JOIN django_celery_beat_clockedschedule AS k ON k.id = t.clocked_id
     ORDER BY t.name
"""
_PERIODS = ("days", "hours", "minutes", "seconds", "microseconds")


def read_tasks(url: str) -> list[dict[str, Any]]:
    """Return every periodic task of the database at ``url`` with its schedule's columns.

    ``url`` is a ``postgresql://`` (or ``postgres://``) URL or ``sqlite:///path``; the tables
    are only read.

    :raises ValueError: another kind of URL, or a SQLite file that does not exist.
    :raises psycopg.Error, sqlite3.Error: the database or its tables cannot be read.
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        import psycopg

        with psycopg.connect(url, connect_timeout=10) as conn:
            cursor = conn.execute(_QUERY)
            columns = [column[0] for column in cursor.description or ()]
            rows = cursor.fetchall()
    elif scheme == "sqlite":
        path = Path(url.split(":///", 1)[1] if ":///" in url else "")
        if not path.is_file():
            raise ValueError(f"no SQLite database at {str(path)!r}")
        conn3 = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            cursor3 = conn3.execute(_QUERY)
            columns = [column[0] for column in cursor3.description]
            rows = cursor3.fetchall()
        finally:
            conn3.close()
    else:
        raise ValueError("expected a postgresql:// or sqlite:/// URL of Django's database")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def instant(value: Any) -> datetime | None:
    """A datetime column as an aware UTC instant (SQLite gives text; naive means UTC, as
    Django stores it with ``USE_TZ``)."""
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def convert_schedule(row: Mapping[str, Any]) -> tuple[ScheduleType, str | None]:
    """Return (schedule, entry tz or None) for a task row.

    :raises NotConvertible: no schedule, or one beatcore refuses (the reason included).
    """
    try:
        if row["every"] is not None:
            period = row["period"]
            if period not in _PERIODS:
                raise NotConvertible(f"interval period {period!r} is not one of {_PERIODS}")
            return Interval(timedelta(**{period: int(row["every"])})), None
        if row["minute"] is not None:
            fields = {
                key: str(row[key])
                for key in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
            }
            return shared_schedule(Crontab, fields), str(row["timezone"] or "UTC")
        if row["event"] is not None:
            return Solar(str(row["event"]), float(row["latitude"]), float(row["longitude"])), None
        if row["clocked_time"] is not None:
            at = instant(row["clocked_time"])
            assert at is not None
            return Clocked(at), None
    except (BeatcoreError, ValueError, TypeError, OverflowError) as exc:
        raise NotConvertible(f"schedule: {exc}") from None
    raise NotConvertible("it has no interval, crontab, solar or clocked schedule")


def _json(row: Mapping[str, Any], column: str, kind: type, default: Any) -> Any:
    text = row[column]
    if text is None or text == "":
        return default
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise NotConvertible(f"{column} is not valid JSON ({exc}): {text!r:.80}") from None
    if not isinstance(value, kind):
        raise NotConvertible(f"{column} must be a JSON {kind.__name__}, got {text!r:.80}")
    return value


def convert(row: Mapping[str, Any]) -> Migrated:
    """Return the beatcore form of one periodic task row.

    ``expires`` becomes the entry's ``end_at`` (django-celery-beat stops scheduling then) and
    the message expiry; ``expire_seconds`` the message expiry; ``one_off`` is ``max_runs=1``;
    ``start_time`` is ``start_at``; a crontab's time zone is the entry's ``tz``; the
    ``description`` is the entry's (django-celery-beat's empty default: none).

    :raises NotConvertible: with the reason.
    """
    schedule, tz = convert_schedule(row)
    options: dict[str, Any] = {
        key: row[key] for key in ("queue", "exchange", "routing_key") if row[key]
    }
    if row["priority"] is not None:
        options["priority"] = int(row["priority"])
    headers = _json(row, "headers", dict, {})
    if headers:
        options["headers"] = headers
    end_at = instant(row["expires"])
    if end_at is not None:
        options["expires"] = end_at.isoformat()
    elif row["expire_seconds"]:
        options["expires"] = int(row["expire_seconds"])
    try:
        entry = Entry(
            name=str(row["name"]),
            task=str(row["task"]),
            schedule=schedule,
            args=tuple(_json(row, "args", list, [])),
            kwargs=_json(row, "kwargs", dict, {}),
            options=options,
            enabled=bool(row["enabled"]),
            tz=tz,
            start_at=instant(row["start_time"]),
            end_at=end_at,
            max_runs=1 if row["one_off"] else None,
            description=str(row["description"]) if row["description"] else None,
        )
    except (BeatcoreError, ValueError, TypeError) as exc:
        raise NotConvertible(str(exc)) from None
    return Migrated(entry, instant(row["last_run_at"]), int(row["total_run_count"] or 0))
