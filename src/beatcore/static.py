"""Turning Celery's ``beat_schedule`` setting into static :class:`~beatcore.entry.Entry` objects.

Besides Celery's own keys (``task``, ``schedule``, ``args``, ``kwargs``, ``options``,
``relative``) an item may carry any Entry field: ``tz``, ``catch_up``, ``misfire_grace``,
``jitter``, ``start_at``, ``end_at``, ``max_runs``, ``enabled``, ``description``, ``overlap``,
``overlap_timeout``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from beatcore.entry import Entry
from beatcore.errors import BeatcoreError, InvalidEntry
from beatcore.plugins import Plugins
from beatcore.schedules import Interval, ScheduleType

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


def static_entry(name: str, item: Mapping[str, Any], plugins: Plugins) -> Entry:
    """Return the Entry for one ``beat_schedule`` item.

    :raises InvalidEntry: a key is missing or unknown, or a value is invalid.
    """
    if not isinstance(item, Mapping):
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
    schedule = plugins.adapt_schedule(item["schedule"], entry_name=name)
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
    """Convert every item of ``beat_schedule``; a bad item is reported, never fatal."""
    entries: list[Entry] = []
    errors: dict[str, str] = {}
    for name, item in (beat_schedule or {}).items():
        try:
            entries.append(static_entry(name, item, plugins))
        except (BeatcoreError, TypeError, ValueError) as exc:
            errors[name] = str(exc)
    return StaticEntries(tuple(entries), errors)
