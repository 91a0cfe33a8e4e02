"""Turning Celery's ``beat_schedule`` setting into static :class:`~beatcore.entry.Entry` objects.

Besides Celery's own keys (``task``, ``schedule``, ``args``, ``kwargs``, ``options``,
``relative``) an item may carry any Entry field: ``tz``, ``catch_up``, ``misfire_grace``,
``jitter``, ``start_at``, ``end_at``, ``max_runs``, ``enabled``, ``description``, ``overlap``,
``overlap_timeout``.

Many items share a schedule (one object, or equal ones: ``crontab(minute=0)`` written per
item), so :func:`static_entries` converts each distinct schedule once (:class:`Schedules`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from beatcore.builtins import adapted_value_key
from beatcore.entry import Entry
from beatcore.errors import BeatcoreError, InvalidEntry
from beatcore.plugins import Plugins
from beatcore.schedules import Interval, ScheduleType
from beatcore.schedules.shared import is_shared

_EXTRA_FIELDS = ("tz", "catch_up", "misfire_grace", "jitter", "start_at", "end_at", "max_runs",
                 "enabled", "description", "overlap", "overlap_timeout")  # fmt: skip
_EXTRA_KEYS = frozenset(_EXTRA_FIELDS)
_KNOWN_KEYS = frozenset(
    {"task", "schedule", "args", "kwargs", "options", "relative", *_EXTRA_FIELDS}
)


@attrs.frozen
class StaticEntries:
    """The result of reading ``beat_schedule``: the good entries and the errors of the bad."""

    entries: tuple[Entry, ...]
    errors: Mapping[str, str]


class Schedules:
    """The schedules of one reading of ``beat_schedule``, each distinct one converted once.

    A schedule object met again (the same object in several items), or a value equal to one
    met before (:func:`beatcore.builtins.adapted_value_key`: numbers, timedeltas and Celery's
    own schedule types), gives the schedule converted the first time, without asking the
    plugins again. Only beatcore's own (immutable) schedule types are reused; what a plugin
    makes of its own objects is asked for each item. A value that cannot be converted is
    never remembered, so each item holding it gets its own error.

    :param plugins: the plugins that convert (:meth:`Plugins.adapt_schedule`).
    """

    def __init__(self, plugins: Plugins) -> None:
        self.plugins = plugins
        # id -> (the object, kept so its id stays its own, and its schedule)
        self._by_object: dict[int, tuple[object, ScheduleType]] = {}
        self._by_value: dict[tuple[Any, ...], ScheduleType] = {}

    def adapt(self, obj: object, name: str) -> ScheduleType:
        """Return ``obj`` as a schedule type, for the item ``name``.

        :raises InvalidSchedule: nothing knows how to convert it.
        """
        known = self._by_object.get(id(obj))
        if known is not None and known[0] is obj:
            return known[1]
        key = adapted_value_key(obj)
        schedule = None
        if key is not None:
            try:
                schedule = self._by_value.get(key)
            except TypeError:  # an unhashable field (a crontab's set of minutes)
                key = None
        if schedule is None:
            schedule = self.plugins.adapt_schedule(obj, entry_name=name)
            if not is_shared(schedule):
                return schedule
            if key is not None:
                self._by_value[key] = schedule
        self._by_object[id(obj)] = (obj, schedule)
        return schedule


def static_entry(
    name: str, item: Mapping[str, Any], plugins: Plugins, schedules: Schedules | None = None
) -> Entry:
    """Return the Entry for one ``beat_schedule`` item (its schedule converted by
    ``schedules``, which knows those met before; None: converted by ``plugins``).

    :raises InvalidEntry: a key is missing or unknown, or a value is invalid.
    """
    if type(item) is not dict and not isinstance(item, Mapping):
        raise InvalidEntry(f"beat_schedule[{name!r}] must be a dict, got {item!r}")
    if not _KNOWN_KEYS.issuperset(item):
        unknown = set(item) - _KNOWN_KEYS
        raise InvalidEntry(
            f"beat_schedule[{name!r}] has unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_KNOWN_KEYS))})"
        )
    for key in ("task", "schedule"):
        if key not in item:
            raise InvalidEntry(f"beat_schedule[{name!r}] has no {key!r}")
    schedule = (schedules or Schedules(plugins)).adapt(item["schedule"], name)
    if "relative" in item:
        schedule = _relative(name, item["relative"], schedule)
    extra = {key: item[key] for key in item if key in _EXTRA_KEYS}
    return Entry(
        name=name,
        task=item["task"],
        schedule=schedule,
        args=item.get("args") or (),
        kwargs=item.get("kwargs") or {},
        options=item.get("options") or {},
        static=True,
        **extra,
    )


def _relative(name: str, relative: object, schedule: ScheduleType) -> ScheduleType:
    """Apply the ``relative`` key, as Celery does for a number or timedelta schedule.

    :raises InvalidEntry: not a bool, or ``relative: True`` on a schedule that is no interval.
    """
    if not isinstance(relative, bool):
        raise InvalidEntry(
            f"beat_schedule[{name!r}]['relative'] must be True or False, got {relative!r}"
        )
    if not relative:
        return schedule
    if not isinstance(schedule, Interval) or schedule.anchor is not None:
        raise InvalidEntry(
            f"beat_schedule[{name!r}] has 'relative': True, which applies only to an interval "
            f"(seconds, a timedelta or celery.schedules.schedule), not to {schedule!r}"
        )
    return attrs.evolve(schedule, relative=True)


def static_entries(beat_schedule: Mapping[str, Any], plugins: Plugins) -> StaticEntries:
    """Convert every item of ``beat_schedule``; a bad item is reported, never fatal.

    Called by the scheduler at start; each distinct schedule is converted once
    (:class:`Schedules`).
    """
    entries: list[Entry] = []
    errors: dict[str, str] = {}
    schedules = Schedules(plugins)
    for name, item in (beat_schedule or {}).items():
        try:
            entries.append(static_entry(name, item, plugins, schedules))
        except (BeatcoreError, TypeError, ValueError) as exc:
            errors[name] = str(exc)
    return StaticEntries(tuple(entries), errors)
