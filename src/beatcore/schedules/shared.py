"""The one cache of shared schedule objects.

beatcore's own schedule types are immutable values, and many entries share one schedule
("every hour", one cron line), so a schedule built from fields it was built from before is
that same object again: a store's records, a migration's rows and Celery's ``beat_schedule``
objects each name a schedule by its fields, and :func:`shared_schedule` builds each distinct
one once (a crontab's five fields are parsed once, not once per record read). Bounded: the
table is cleared when it holds :data:`LIMIT` schedules. Third-party types are never cached
(their instances need not be immutable).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beatcore.schedules.base import ScheduleType
from beatcore.schedules.clocked import Clocked
from beatcore.schedules.crontab import Crontab
from beatcore.schedules.interval import Interval
from beatcore.schedules.solar import Solar

#: Most schedules kept; the table starts again empty past it.
LIMIT = 4096

#: beatcore's own schedule types (immutable values, flat dicts).
BUILT_IN_TYPES = frozenset((Interval, Crontab, Solar, Clocked))
_SHARED_TYPES = BUILT_IN_TYPES
_schedules: dict[tuple[Any, ...], ScheduleType] = {}


def shared_schedule(cls: type[ScheduleType], fields: Mapping[str, Any]) -> ScheduleType:
    """Return ``cls.from_dict(fields)``, the same object for equal fields of a built-in type.

    Called by the serializer for every schedule it reads (``fields`` is then the stored dict,
    whose ``"type"`` key is not passed on) and by the converters of foreign schedules.

    :raises InvalidSchedule: the fields are not valid for the type (nothing is cached).
    """
    if cls not in _SHARED_TYPES:
        return cls.from_dict(_without_type(fields))
    try:
        # value types are part of the key: 1, 1.0 and true are equal keys but not equal input
        key = (cls, *fields.items(), *map(type, fields.values()))
        shared = _schedules.get(key)
    except TypeError:  # an unhashable field value: built as it is, then refused or not
        return cls.from_dict(_without_type(fields))
    if shared is None:
        shared = cls.from_dict(_without_type(fields))
        if len(_schedules) >= LIMIT:
            _schedules.clear()
        _schedules[key] = shared
    return shared


def is_shared(schedule: ScheduleType) -> bool:
    """True when ``schedule`` is of a type whose objects :func:`shared_schedule` shares
    (beatcore's own, immutable): one object may then stand in several entries."""
    return type(schedule) in _SHARED_TYPES


def clear() -> None:
    """Forget every shared schedule (for measurements that want a cold start)."""
    _schedules.clear()


def _without_type(fields: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(fields)
    data.pop("type", None)
    return data
