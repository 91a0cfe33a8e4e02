"""``Entry`` (what to run and when) and ``EntryState`` (what has happened so far).

An Entry is an immutable definition; a change makes a new Entry (``attrs.evolve``). Its state is
kept apart, so updating a definition keeps the run history: the store recomputes the next run
only when something that decides it changed (see :func:`beatcore.timing.timing_changed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from beatcore.entry_checks import CATCH_UP_POLICIES as CATCH_UP_POLICIES
from beatcore.entry_checks import DESCRIPTION_LIMIT as DESCRIPTION_LIMIT
from beatcore.entry_checks import MAX_COUNT as MAX_COUNT
from beatcore.entry_checks import MAX_SECONDS as MAX_SECONDS
from beatcore.entry_checks import OVERLAP_POLICIES as OVERLAP_POLICIES
from beatcore.entry_checks import CatchUp as CatchUp
from beatcore.entry_checks import Overlap as Overlap
from beatcore.entry_checks import (
    check_bool,
    check_count,
    check_description,
    check_instant,
    check_json,
    check_max_runs,
    check_name,
    check_one_of,
    check_schedule,
    check_seconds,
    check_task,
    check_text,
    check_tz,
)
from beatcore.errors import InvalidEntry
from beatcore.field_converters import StoredName as StoredName
from beatcore.field_converters import stored_name as stored_name
from beatcore.field_converters import to_aware, to_dict, to_flag, to_jitter, to_tuple
from beatcore.frozen_build import positional_builder
from beatcore.schedules.base import ScheduleType, is_schedule
from beatcore.schedules.shared import BUILT_IN_TYPES
from beatcore.timeutil import UTC
from beatcore.values import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from beatcore.values import json_problem


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
    :param description: what the entry is for, for people (shown by ``list`` and ``show``);
        None: none. Not used by the scheduler.
    :param overlap: an occurrence due while the previous run still runs is sent (``allow``),
        skipped (``skip``) or waits for its end (``buffer_one``); see :mod:`beatcore.overlap`.
    :param overlap_timeout: seconds a run that never reports back blocks; None: the task's
        time limit, else ``beatcore_overlap_timeout``.
    """

    name: str = attrs.field()
    task: str = attrs.field()
    schedule: ScheduleType = attrs.field()
    args: tuple[Any, ...] = attrs.field(default=(), converter=to_tuple)
    kwargs: dict[str, Any] = attrs.field(factory=dict, converter=to_dict)
    options: dict[str, Any] = attrs.field(factory=dict, converter=to_dict)
    enabled: bool = attrs.field(default=True, converter=to_flag)
    tz: str | None = None
    start_at: datetime | None = attrs.field(default=None, converter=to_aware)
    end_at: datetime | None = attrs.field(default=None, converter=to_aware)
    max_runs: int | None = None
    catch_up: CatchUp = "latest"
    misfire_grace: float | None = None
    jitter: float = attrs.field(default=0.0, converter=to_jitter)
    static: bool = attrs.field(default=False, converter=to_flag)
    description: str | None = None
    overlap: Overlap = "allow"
    overlap_timeout: float | None = None

    def __init__(
        self,
        name: str,
        task: str,
        schedule: ScheduleType,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        enabled: bool = True,
        tz: str | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        max_runs: int | None = None,
        catch_up: CatchUp = "latest",
        misfire_grace: float | None = None,
        jitter: float | None = 0.0,
        static: bool = False,
        description: str | None = None,
        overlap: Overlap = "allow",
        overlap_timeout: float | None = None,
    ) -> None:
        # Written here rather than generated by attrs: an Entry is built for every record
        # read (twice per dispatched entry) and every entry a caller saves, and a converter
        # and a validator call per field were most of it. When the values are of the usual
        # kinds (the converters would return them as they are, the dicts copied, a list of
        # args as JSON reads it made a tuple) they are
        # set at once and told valid by one quick test, which passes only values every
        # field's check passes; else each field's converter and check run in field order
        # (_init_checked, the general path, same values and errors).
        if type(args) is list:  # as read from JSON: what to_tuple makes of it
            args = tuple(args)
        if not (
            type(args) is tuple
            and (kwargs is None or type(kwargs) is dict)
            and (options is None or type(options) is dict)
            and (enabled is True or enabled is False)
            and (start_at is None or (type(start_at) is datetime and start_at.tzinfo is UTC))
            and (end_at is None or (type(end_at) is datetime and end_at.tzinfo is UTC))
            and (static is True or static is False)
        ):
            _init_checked(
                self, name, task, schedule, args, kwargs, options, enabled, tz, start_at,
                end_at, max_runs, catch_up, misfire_grace, jitter, static, description,
                overlap, overlap_timeout,
            )  # fmt: skip
            return
        kwargs = {} if kwargs is None else kwargs.copy()
        options = {} if options is None else options.copy()
        if jitter is None:
            jitter = 0.0  # a record may hold null: no jitter
        _setters = _ENTRY_SETTERS
        _setters[0](self, name)
        _setters[1](self, task)
        _setters[2](self, schedule)
        _setters[3](self, args)
        _setters[4](self, kwargs)
        _setters[5](self, options)
        _setters[6](self, enabled)
        _setters[7](self, tz)
        _setters[8](self, start_at)
        _setters[9](self, end_at)
        _setters[10](self, max_runs)
        _setters[11](self, catch_up)
        _setters[12](self, misfire_grace)
        _setters[13](self, jitter)
        _setters[14](self, static)
        _setters[15](self, description)
        _setters[16](self, overlap)
        _setters[17](self, overlap_timeout)
        if not (
            type(name) is str
            and name.isprintable()  # no Cc, Zl, Zp or surrogate: the name rule and encode()
            and name.strip()
            and type(task) is str
            and task.strip()
            and (type(schedule) in BUILT_IN_TYPES or is_schedule(schedule))
            and (not args or json_problem(args) is None)
            and (not kwargs or json_problem(kwargs) is None)
            and (not options or json_problem(options) is None)
            and tz is None
            and (max_runs is None or (type(max_runs) is int and 1 <= max_runs <= MAX_COUNT))
            and type(catch_up) is str
            and catch_up in CATCH_UP_POLICIES
            and (
                misfire_grace is None
                or (
                    (type(misfire_grace) is float or type(misfire_grace) is int)
                    and 0 <= misfire_grace <= MAX_SECONDS
                )
            )
            and (type(jitter) is float or type(jitter) is int)
            and 0 <= jitter <= MAX_SECONDS
            and (
                description is None
                or (type(description) is str and len(description) <= DESCRIPTION_LIMIT)
            )
            and type(overlap) is str
            and overlap == "allow"
            and overlap_timeout is None
        ):
            _check_fields(self)
        if start_at and end_at and end_at < start_at:
            _refuse_order(self)

    def evolve(self, **changes: Any) -> Entry:
        """Return a copy with ``changes`` applied (validated like a new Entry)."""
        return attrs.evolve(self, **changes)


#: Each Entry field's check, in field order (see Entry.__init__).
_FIELD_CHECKS: tuple[tuple[attrs.Attribute[Any], Any], ...] = tuple(
    zip(
        attrs.fields(Entry),
        (
            check_name,
            check_task,
            check_schedule,
            check_json("args", tuple),
            check_json("kwargs", dict),
            check_json("options", dict),
            check_bool,
            check_tz,
            check_instant,
            check_instant,
            check_max_runs,
            check_one_of(CATCH_UP_POLICIES),
            check_seconds("misfire_grace"),
            check_seconds("jitter"),
            check_bool,
            check_description,
            check_one_of(OVERLAP_POLICIES),
            check_seconds("overlap_timeout", ">"),
        ),
        strict=True,
    )
)


#: Each Entry field's converter (None: none), in field order.
_FIELD_CONVERTERS: tuple[Any, ...] = tuple(attribute.converter for attribute in attrs.fields(Entry))
_ENTRY_SETTERS = tuple(Entry.__dict__[f.name].__set__ for f in attrs.fields(Entry))


def _check_fields(entry: Entry) -> None:
    """Run each field's check on ``entry`` in field order: raise the first field's error."""
    for attribute, check in _FIELD_CHECKS:
        check(entry, attribute, getattr(entry, attribute.name))


def _refuse_order(entry: Entry) -> None:
    assert entry.start_at is not None and entry.end_at is not None
    raise InvalidEntry(
        f"end_at of entry {entry.name!r} ({entry.end_at.isoformat()}) is before its "
        f"start_at ({entry.start_at.isoformat()})"
    )


def _init_checked(entry: Entry, *values: Any) -> None:
    """Set ``entry``'s fields to ``values`` (in field order) through each field's converter,
    then run every field's check and the order of ``start_at`` and ``end_at``.

    The general path of :class:`Entry`'s constructor, taken when a value is not of the
    usual kind (a list for ``args``, a mapping that is no dict, a naive or non-UTC instant,
    ``0`` or ``1`` for a flag): what the attrs-generated constructor did.
    """
    for setter, converter, value in zip(_ENTRY_SETTERS, _FIELD_CONVERTERS, values, strict=True):
        setter(entry, value if converter is None else converter(value))
    _check_fields(entry)
    if entry.start_at and entry.end_at and entry.end_at < entry.start_at:
        _refuse_order(entry)


def _check_state(state: EntryState) -> None:
    """Put the instants of ``state`` in UTC (``to_aware``), then raise the error of its first
    field that is not of its declared kind.

    Called by EntryState when its quick check fails (the usual field types are tested in
    one expression: a state is built for every dispatched entry and every record read).
    """
    for attribute in attrs.fields(EntryState):
        value = getattr(state, attribute.name)
        if attribute.name.endswith("_count"):
            check_count(state, attribute, value)
        elif attribute.name.endswith("_at"):
            value = to_aware(value)  # an instant in another zone: in UTC
            object.__setattr__(state, attribute.name, value)
            check_instant(state, attribute, value)
        else:
            check_text(state, attribute, value)


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

    # The instants go through to_aware only when the quick check fails (see _check_state).
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    total_run_count: int = 0
    skipped_run_count: int = 0
    last_task_id: str | None = None
    last_error: str | None = None
    triggered_at: datetime | None = None

    def __init__(
        self,
        next_run_at: datetime | None = None,
        last_run_at: datetime | None = None,
        total_run_count: int = 0,
        skipped_run_count: int = 0,
        last_task_id: str | None = None,
        last_error: str | None = None,
        triggered_at: datetime | None = None,
    ) -> None:
        # Not attrs' frozen __init__ (object.__setattr__ by name): the slots' own setters cost
        # half, for a state built per record read and per dispatch. Same defaults and checks.
        _setters = _STATE_SETTERS
        _setters[0](self, next_run_at)
        _setters[1](self, last_run_at)
        _setters[2](self, total_run_count)
        _setters[3](self, skipped_run_count)
        _setters[4](self, last_task_id)
        _setters[5](self, last_error)
        _setters[6](self, triggered_at)
        total, skipped = total_run_count, skipped_run_count
        nxt, last, trig = next_run_at, last_run_at, triggered_at
        if not (
            type(total) is int
            and type(skipped) is int
            and 0 <= total <= MAX_COUNT
            and 0 <= skipped <= MAX_COUNT
            and (last_task_id is None or type(last_task_id) is str)
            and (last_error is None or type(last_error) is str)
            and (nxt is None or (type(nxt) is datetime and nxt.tzinfo is UTC))
            and (last is None or (type(last) is datetime and last.tzinfo is UTC))
            and (trig is None or (type(trig) is datetime and trig.tzinfo is UTC))
        ):
            _check_state(self)

    def evolve(self, **changes: Any) -> EntryState:
        """Return a copy with ``changes`` applied (an unknown field raises TypeError)."""
        return attrs.evolve(self, **changes)


_STATE_SETTERS = tuple(EntryState.__dict__[f.name].__set__ for f in attrs.fields(EntryState))


#: Return the EntryState of these values without running its checks:
#: ``checked_state(next_run_at, last_run_at, total_run_count, skipped_run_count,
#: last_task_id, last_error, triggered_at)``. Called by
#: :func:`beatcore.state_text.read_written` for the values it read from a state text, which
#: it checked to be of the kinds EntryState's quick check passes (instants in UTC or None,
#: int counts in 0..MAX_COUNT, texts or None): the same state ``EntryState(...)`` gives, for
#: a fraction of its constructor (an EntryState is built per claimed entry).
checked_state: Callable[
    [datetime | None, datetime | None, int, int, str | None, str | None, datetime | None],
    EntryState,
] = positional_builder(EntryState)
