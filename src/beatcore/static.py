"""Turning Celery's ``beat_schedule`` setting into static :class:`~beatcore.entry.Entry` objects.

Besides Celery's own keys (``task``, ``schedule``, ``args``, ``kwargs``, ``options``,
``relative``) an item may carry any Entry field: ``tz``, ``catch_up``, ``misfire_grace``,
``jitter``, ``start_at``, ``end_at``, ``max_runs``, ``enabled``, ``description``, ``overlap``,
``overlap_timeout``.

Many items share a schedule (one object, or equal ones: ``crontab(minute=0)`` written per
item), so :func:`static_entries` converts each distinct schedule once (:class:`Schedules`),
and many differ only in their name, so an item equal to one read before but for its name is
that entry under the new name, not built and checked again (:class:`BeatSchedule`).
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
    return _built(name, item, (schedules or Schedules(plugins)).adapt(item["schedule"], name))


def _built(name: str, item: Mapping[str, Any], schedule: ScheduleType) -> Entry:
    """Return the Entry of an item whose keys are known, ``schedule`` its converted schedule.

    :raises InvalidEntry: a value is invalid.
    """
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


_FIELDS = tuple(field.name for field in attrs.fields(Entry))
#: Entry's field descriptors (its slots) by field, in field order, through which a renamed
#: copy is made (see _renamed); None when its instances hold anything but its fields (then
#: every entry is built).
_SLOTS: dict[str, Any] | None = (
    {name: vars(Entry)[name] for name in _FIELDS}
    if set(getattr(Entry, "__slots__", ())) - {"__weakref__"} == set(_FIELDS)
    else None
)


class BeatSchedule:
    """One reading of ``beat_schedule``: its schedules converted once each (:class:`Schedules`),
    and its items that differ from one read before only in their name made from that entry.

    Such an item has the same task, the same schedule (one object of beatcore's own types,
    as :class:`Schedules` gives) and the same other keys, of the same types, each a plain
    value (text, a number, a bool, None) or an empty list, tuple or dict. Its entry is the
    first one's with the name replaced, which is what :class:`~beatcore.entry.Entry` would
    build (the same values pass the same checks), kwargs and options its own empty dicts.
    A name the quick check of :class:`~beatcore.entry.Entry` does not pass, and any other
    item, is built in full: its error, if any, names it.

    :param plugins: the plugins that convert the schedules.
    """

    def __init__(self, plugins: Plugins) -> None:
        self.plugins = plugins
        self.schedules = Schedules(plugins)
        self._entries: dict[tuple[Any, ...], tuple[Entry, list[Any]]] = {}

    def entry(self, name: str, item: Mapping[str, Any]) -> Entry:
        """Return the Entry of the item ``name``, as :func:`static_entry` does.

        :raises InvalidEntry: a key is missing or unknown, or a value is invalid.
        """
        if not (
            type(item) is dict
            and "task" in item
            and "schedule" in item
            and _KNOWN_KEYS.issuperset(item)
        ):
            return static_entry(name, item, self.plugins, self.schedules)
        schedule = self.schedules.adapt(item["schedule"], name)
        slots = _SLOTS
        key = None if slots is None else _item_key(item, schedule)
        if key is None or slots is None:
            return _built(name, item, schedule)
        known = self._entries.get(key)
        if known is not None and type(name) is str and name.isprintable() and name.strip():
            return _renamed(name, known[1], slots)
        entry = _built(name, item, schedule)
        self._entries[key] = (entry, [slot.__get__(entry) for slot in slots.values()])
        return entry


def _item_key(item: dict[str, Any], schedule: ScheduleType) -> tuple[Any, ...] | None:
    """Return what makes ``item`` the item it is but for its name (see :class:`BeatSchedule`),
    ``schedule`` being its converted schedule; None when it holds anything else."""
    if not is_shared(schedule):
        return None
    parts: list[Any] = [id(schedule)]  # (the first entry holds it: the id stays its own)
    for key, value in item.items():
        kind = type(value)
        if key == "schedule":
            continue
        if kind is str or kind is int or kind is bool or value is None:
            parts.append((key, kind, value))
        elif kind is float:
            parts.append((key, kind, value.hex()))  # 0.0 and -0.0 are other items
        elif (kind is tuple or kind is list or kind is dict) and not value:
            parts.append((key, kind))
        else:
            return None
    return tuple(parts)


def _renamed(name: str, values: list[Any], slots: dict[str, Any]) -> Entry:
    """Return an Entry of the field ``values`` (another entry's) under ``name``, with its own
    empty kwargs and options (the only containers such an entry may hold)."""
    entry: Entry = object.__new__(Entry)
    for slot, value in zip(slots.values(), values, strict=True):
        slot.__set__(entry, value)
    slots["name"].__set__(entry, name)
    slots["kwargs"].__set__(entry, {})
    slots["options"].__set__(entry, {})
    return entry


def static_entries(beat_schedule: Mapping[str, Any], plugins: Plugins) -> StaticEntries:
    """Convert every item of ``beat_schedule``; a bad item is reported, never fatal.

    Called by the scheduler at start; each distinct schedule is converted once, and an item
    that differs from one before only in its name is that entry renamed (:class:`BeatSchedule`).
    """
    entries: list[Entry] = []
    errors: dict[str, str] = {}
    reading = BeatSchedule(plugins)
    for name, item in (beat_schedule or {}).items():
        try:
            entries.append(reading.entry(name, item))
        except (BeatcoreError, TypeError, ValueError) as exc:
            errors[name] = str(exc)
    return StaticEntries(tuple(entries), errors)
