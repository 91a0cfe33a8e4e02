"""The hookimpls that make ``rrule`` a beatcore schedule type.

Found through the ``beatcore`` entry-point group (``rrule = "beatcore_rrule.plugin"`` in this
distribution's pyproject.toml), or by naming this module in the ``beatcore_plugins`` setting.
"""

from __future__ import annotations

from collections.abc import Sequence

import beatcore
from beatcore.schedules import ScheduleType
from beatcore_rrule.schedule import RRule


@beatcore.hookimpl
def beatcore_schedule_types() -> Sequence[type[ScheduleType]]:
    """Provide the ``rrule`` schedule type."""
    return [RRule]


@beatcore.hookimpl
def beatcore_adapt_schedule(obj: object) -> ScheduleType | None:
    """Turn a ``dateutil.rrule.rrule`` in ``beat_schedule`` into an :class:`RRule`.

    Its dtstart must be aware (the zone it carries becomes the rule's ``tz``); a naive one
    raises InvalidSchedule asking for ``RRule(rule, tz=...)`` instead.
    """
    from dateutil.rrule import rrule

    if not isinstance(obj, rrule):
        return None
    start = getattr(obj, "_dtstart", None)
    if start is not None and start.tzinfo is None:
        raise beatcore.InvalidSchedule(
            f"dateutil rrule {str(obj)!r} has a naive dtstart, so its time zone is unknown: "
            "use beatcore_rrule.RRule(rule, tz='Zone/Name') in beat_schedule"
        )
    return RRule(obj)
