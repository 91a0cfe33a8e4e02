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
from datetime import timedelta
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
        types = tuple(map(type, fields.values()))
        if _PLAIN.issuperset(types):  # as stored: 1, 1.0 and true told apart by their types
            key: tuple[Any, ...] = (cls, *fields.items(), *types)
        else:  # a converter's tuples and sets: their values' types too
            key = (cls, *((name, typed_key(value)) for name, value in fields.items()))
        shared = _schedules.get(key)
    except TypeError:  # a field value not keyed: built as it is, then refused or not
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


_PLAIN = frozenset({str, int, float, bool, type(None)})


def typed_key(value: Any) -> tuple[Any, ...]:
    """``value`` with its type, nested values too, as a key: 1, 1.0 and True, 0.0 and -0.0,
    a tuple and a list are equal but not the same input (Crontab refuses a bool or a float
    where it takes an int, and a schedule keeps the spelling it was given).

    :raises TypeError: a value of another kind (nothing is keyed by it then).
    """
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None or cls is timedelta:
        return (cls, value)
    if cls is float:
        return (cls, repr(value))
    if cls is tuple or cls is list:
        return (cls, *map(typed_key, value))
    if cls is set or cls is frozenset:
        return (cls, frozenset(map(typed_key, value)))
    if cls is range:
        return (cls, value.start, value.stop, value.step)
    raise TypeError(f"not keyed: {cls.__name__}")
