"""Built-in schedule types and the conversion of Celery's schedule objects.

Registered through the same hooks as any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from beatcore.hookspecs import hookimpl
from beatcore.schedules import Clocked, Crontab, Interval, ScheduleType, Solar
from beatcore.schedules.shared import shared_schedule, typed_key


@hookimpl
def beatcore_schedule_types() -> Sequence[type[ScheduleType]]:
    """Provide ``interval``, ``crontab``, ``solar`` and ``clocked``."""
    return [Interval, Crontab, Solar, Clocked]


@hookimpl
def beatcore_adapt_schedule(obj: object) -> ScheduleType | None:
    """Convert Celery's ``schedule``, ``crontab`` and ``solar``, timedeltas and seconds."""
    from celery import schedules as celery_schedules

    if isinstance(obj, bool):
        return None
    if isinstance(obj, (int, float, timedelta)):
        return Interval(obj)
    # crontab and solar subclass celery's schedule, so they are tested first.
    if isinstance(obj, celery_schedules.crontab):
        fields = {
            "minute": obj._orig_minute,
            "hour": obj._orig_hour,
            "day_of_week": obj._orig_day_of_week,
            "day_of_month": obj._orig_day_of_month,
            "month_of_year": obj._orig_month_of_year,
        }
        return shared_schedule(Crontab, fields)
    if isinstance(obj, celery_schedules.solar):
        return Solar(obj.event, obj.lat, obj.lon)
    if isinstance(obj, celery_schedules.schedule):
        # relative=True: the period cut to its unit on the clock, as Celery's is_due does.
        return Interval(obj.run_every, relative=bool(getattr(obj, "relative", False)))
    return None


_celery_classes: tuple[type, type, type] | None = None


def _celery_types() -> tuple[type, type, type]:
    """Celery's crontab, solar and schedule classes (imported at first use, as above)."""
    global _celery_classes
    if _celery_classes is None:
        from celery import schedules as celery_schedules

        _celery_classes = (
            celery_schedules.crontab,
            celery_schedules.solar,
            celery_schedules.schedule,
        )
    return _celery_classes


def adapted_value_key(obj: Any) -> tuple[Any, ...] | None:
    """Return what :func:`beatcore_adapt_schedule` reads of ``obj``, with the types of those
    values, when ``obj`` is exactly one of the types it converts; None otherwise.

    Called by the static sync's reading of ``beat_schedule`` for each schedule value: two
    values with equal keys convert to equal schedules, so each distinct one is converted
    once (10,000 entries each with its own ``schedule(timedelta(hours=1))`` are one
    conversion). A subclass gives None: it may convert otherwise.
    """
    cls = type(obj)
    if cls is int or cls is float or cls is timedelta:
        return (cls, obj)
    crontab, solar, schedule = _celery_types()
    if cls is crontab:
        values: tuple[Any, ...] = (
            obj._orig_minute,
            obj._orig_hour,
            obj._orig_day_of_week,
            obj._orig_day_of_month,
            obj._orig_month_of_year,
        )
    elif cls is solar:
        values = (obj.event, obj.lat, obj.lon)
    elif cls is schedule:
        values = (obj.run_every, bool(getattr(obj, "relative", False)))
    else:
        return None
    try:
        return (cls, *map(typed_key, values))
    except TypeError:  # a value of a kind not keyed: converted each time
        return None
