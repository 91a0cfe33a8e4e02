"""``Entry`` (what to run and when) and ``EntryState`` (what has happened so far).

An Entry is an immutable definition; a change makes a new Entry (``attrs.evolve``). Its state is
kept apart, so updating a definition keeps the run history: the store recomputes the next run
only when something that decides it changed (see :func:`beatcore.timing.timing_changed`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from beatcore.errors import InvalidEntry, InvalidSchedule
from beatcore.schedules.base import ScheduleType, is_schedule
from beatcore.timeutil import require_aware, zone

CatchUp = Literal["latest", "all", "skip"]
CATCH_UP_POLICIES: tuple[CatchUp, ...] = ("latest", "all", "skip")


#: Types that ``json.dumps`` encodes as they are (exact types: subclasses may encode otherwise).
_JSON_SCALARS = frozenset((str, int, float, bool, type(None)))
#: How deep :func:`_plain_json` looks before it leaves the answer to ``json.dumps``.
_PLAIN_JSON_DEPTH = 4


def _plain_json(value: Any, depth: int = _PLAIN_JSON_DEPTH) -> bool:
    """Return True when ``value`` is made only of JSON scalars, lists, tuples and str-keyed dicts.

    Such a value always encodes, so most args, kwargs and options (and everything decoded from a
    stored record) skip the trial ``json.dumps``. False means "not known": the caller encodes.
    """
    kind = type(value)
    if kind in _JSON_SCALARS:
        return True
    if depth == 0:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _plain_json(item, depth - 1):
                return False
        return True
    if kind is tuple or kind is list:
        # A loop, not all(<generator>): this runs for every entry built, and is twice as fast.
        for item in value:  # noqa: SIM110
            if not _plain_json(item, depth - 1):
                return False
        return True
    return False


def _require_json(what: str) -> Any:
    def check(instance: Entry, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not value or _plain_json(value):
            return
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise InvalidEntry(
                f"{what} of entry {instance.name!r} must be JSON-serializable: {exc}"
            ) from exc

    return check


def _name(instance: Entry, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(f"entry name must be a non-empty string, got {value!r}")
    try:
        value.encode()  # task ids and store keys are made from its UTF-8 bytes
    except UnicodeEncodeError as exc:
        raise InvalidEntry(f"entry name {value!r} is not valid Unicode text: {exc}") from None


def _task(instance: Entry, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(
            f"task of entry {instance.name!r} must be a non-empty task name, got {value!r}"
        )


def _schedule(instance: Entry, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not is_schedule(value):
        raise InvalidEntry(
            f"schedule of entry {instance.name!r} must be a schedule type (with type_name, "
            f"to_dict, from_dict and next_after), got {value!r}"
        )


def _tz(instance: Entry, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    try:
        zone(value)
    except InvalidSchedule as exc:
        raise InvalidEntry(f"tz of entry {instance.name!r}: {exc}") from exc


def _catch_up(instance: Entry, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in CATCH_UP_POLICIES:
        raise InvalidEntry(
            f"catch_up of entry {instance.name!r} must be one of "
            f"{', '.join(CATCH_UP_POLICIES)}, got {value!r}"
        )


def _non_negative(what: str) -> Any:
    def check(instance: Entry, attribute: attrs.Attribute[Any], value: float | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidEntry(
                f"{what} of entry {instance.name!r} must be a number of seconds >= 0, got {value!r}"
            )

    return check


def _max_runs(instance: Entry, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidEntry(
            f"max_runs of entry {instance.name!r} must be a positive integer or None, got {value!r}"
        )


def _optional_aware(value: datetime | None) -> datetime | None:
    return None if value is None else require_aware(value, "start_at/end_at")


def _tuple(value: Any) -> tuple[Any, ...]:
    if type(value) is tuple:
        return value
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidEntry(f"entry args must be a list or tuple, got {value!r}")
    return tuple(value)


def _dict(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value.copy()
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidEntry(f"entry kwargs and options must be mappings, got {value!r}")
    return dict(value)


@attrs.frozen(eq=True, hash=False)
class Entry:
    """One scheduled task: its identity (``name``), what to send, and when.

    :param name: unique identity of the entry in its store.
    :param task: the Celery task name sent on each occurrence.
    :param schedule: any :class:`~beatcore.schedules.ScheduleType`.
    :param args, kwargs: task arguments (must be JSON-serializable).
    :param options: ``apply_async`` options (queue, priority, headers, expires, ...).
    :param enabled: a disabled entry keeps its state but is never sent.
    :param tz: IANA zone to evaluate calendar schedules in; None means ``app.conf.timezone``.
    :param start_at, end_at: no occurrence before ``start_at`` or after ``end_at`` (aware).
    :param max_runs: stop after this many runs.
    :param catch_up: after downtime: ``latest`` (one run), ``all`` (each missed run, bounded),
        ``skip`` (none; wait for the next occurrence).
    :param misfire_grace: seconds an occurrence may be late and still run; None = no bound.
    :param jitter: maximum seconds added to each occurrence, derived from name and occurrence.
    :param static: True when the entry comes from ``beat_schedule`` (managed by the startup sync).
    """

    name: str = attrs.field(validator=_name)
    task: str = attrs.field(validator=_task)
    schedule: ScheduleType = attrs.field(validator=_schedule)
    args: tuple[Any, ...] = attrs.field(
        default=(), converter=_tuple, validator=_require_json("args")
    )
    kwargs: dict[str, Any] = attrs.field(
        factory=dict, converter=_dict, validator=_require_json("kwargs")
    )
    options: dict[str, Any] = attrs.field(
        factory=dict, converter=_dict, validator=_require_json("options")
    )
    enabled: bool = attrs.field(default=True, converter=bool)
    tz: str | None = attrs.field(default=None, validator=_tz)
    start_at: datetime | None = attrs.field(default=None, converter=_optional_aware)
    end_at: datetime | None = attrs.field(default=None, converter=_optional_aware)
    max_runs: int | None = attrs.field(default=None, validator=_max_runs)
    catch_up: CatchUp = attrs.field(default="latest", validator=_catch_up)
    misfire_grace: float | None = attrs.field(
        default=None, validator=_non_negative("misfire_grace")
    )
    jitter: float = attrs.field(default=0.0, validator=_non_negative("jitter"))
    static: bool = attrs.field(default=False, converter=bool)

    def __attrs_post_init__(self) -> None:
        if self.start_at and self.end_at and self.end_at < self.start_at:
            raise InvalidEntry(
                f"end_at of entry {self.name!r} ({self.end_at.isoformat()}) is before its "
                f"start_at ({self.start_at.isoformat()})"
            )

    def evolve(self, **changes: Any) -> Entry:
        """Return a copy with ``changes`` applied (validated like a new Entry)."""
        return attrs.evolve(self, **changes)


@attrs.frozen
class EntryState:
    """The runtime facts of an entry, kept apart from its definition.

    :param next_run_at: the next occurrence (nominal, before jitter); None when the schedule
        has no occurrence left (or the entry reached ``end_at``/``max_runs``).
    :param last_run_at: the occurrence last sent.
    :param total_run_count: how many occurrences were sent.
    :param skipped_run_count: how many occurrences were skipped (catch-up policy, misfire grace).
    :param last_task_id: the task id of the last send.
    :param last_error: the last problem with this entry (failed send, unreadable record), or None.
    :param triggered_at: set by a manual trigger; the next tick runs the entry once more.
    """

    next_run_at: datetime | None = attrs.field(default=None, converter=_optional_aware)
    last_run_at: datetime | None = attrs.field(default=None, converter=_optional_aware)
    total_run_count: int = 0
    skipped_run_count: int = 0
    last_task_id: str | None = None
    last_error: str | None = None
    triggered_at: datetime | None = attrs.field(default=None, converter=_optional_aware)

    def evolve(self, **changes: Any) -> EntryState:
        """Return a copy with ``changes`` applied.

        Called for states on every dispatch and save, so it builds the copy directly rather
        than through ``attrs.evolve``; an unknown field raises TypeError all the same.
        """
        fields: dict[str, Any] = {
            "next_run_at": self.next_run_at,
            "last_run_at": self.last_run_at,
            "total_run_count": self.total_run_count,
            "skipped_run_count": self.skipped_run_count,
            "last_task_id": self.last_task_id,
            "last_error": self.last_error,
            "triggered_at": self.triggered_at,
        }
        fields.update(changes)
        return EntryState(**fields)
