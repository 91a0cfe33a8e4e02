"""Built-in schedule types and the conversion of Celery's schedule objects.

Registered through the same hooks as any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from beatcore.hookspecs import hookimpl
from beatcore.schedules import Clocked, Crontab, Interval, ScheduleType, Solar
from beatcore.schedules.shared import shared_schedule


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
