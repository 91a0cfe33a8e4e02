"""``Entry`` (what to run and when) and ``EntryState`` (what has happened so far).

An Entry is an immutable definition; a change makes a new Entry (``attrs.evolve``). Its state is
kept apart, so updating a definition keeps the run history: the store recomputes the next run
only when something that decides it changed (see :func:`beatcore.timing.timing_changed`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import attrs

from beatcore.errors import InvalidEntry, InvalidSchedule
from beatcore.field_converters import StoredName as StoredName
from beatcore.field_converters import stored_name as stored_name
from beatcore.field_converters import to_aware, to_dict, to_flag, to_jitter, to_tuple
from beatcore.schedules.base import ScheduleType, is_schedule
from beatcore.timeutil import UTC, zone
from beatcore.values import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from beatcore.values import is_integer, is_number, json_problem, line_breaking, shown

CatchUp = Literal["latest", "all", "skip"]
CATCH_UP_POLICIES: tuple[CatchUp, ...] = ("latest", "all", "skip")
Overlap = Literal["allow", "skip", "buffer_one"]
OVERLAP_POLICIES: tuple[Overlap, ...] = ("allow", "skip", "buffer_one")


#: The most seconds a jitter or misfire grace may be: what a timedelta holds.
MAX_SECONDS = timedelta.max.days * 86400 + timedelta.max.seconds
#: The most a count (``max_runs``, the run counters) may be: a signed 64-bit integer, which
#: every store can hold in an integer column.
MAX_COUNT = 2**63 - 1


def _require_json(what: str, kind: type) -> Any:
    def check(instance: Entry, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not kind:
            expected = "a list or tuple" if kind is tuple else "a mapping"
            raise InvalidEntry(
                f"{what} of entry {instance.name!r} must be {expected}, got "
                f"{type(value).__name__} {shown(value)}"
            )
        if not value:
            return
        problem = json_problem(value)
        if problem is not None:
            raise InvalidEntry(
                f"{what} of entry {instance.name!r} must be JSON-serializable: {problem} (JSON "
                "values are lists, dicts with str keys, str, int, finite float, bool and None)"
            )

    return check


def _name(instance: Entry, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(f"entry name must be a non-empty string, got {shown(value)}")
    if type(value) is not StoredName:
        char = line_breaking(value)
        if char is not None:
            raise InvalidEntry(
                f"entry name {shown(value)} holds {char!r} (U+{ord(char):04X}): a name may not "
                "hold control characters or line and paragraph separators (they could forge "
                "log lines)"
            )
    try:
        value.encode()  # task ids and store keys are made from its UTF-8 bytes
    except UnicodeEncodeError as exc:
        raise InvalidEntry(f"entry name {value!r} is not valid Unicode text: {exc}") from None


def _task(instance: Entry, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(
            f"task of entry {instance.name!r} must be a non-empty task name, got {shown(value)}"
        )


def _schedule(instance: Entry, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not is_schedule(value):
        raise InvalidEntry(
            f"schedule of entry {instance.name!r} must be a schedule type (with type_name, "
            f"to_dict, from_dict and next_after), got {shown(value)}"
        )


#: The longest description kept with an entry (characters).
DESCRIPTION_LIMIT = 10_000


def _description(
    instance: Entry, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > DESCRIPTION_LIMIT:
        raise InvalidEntry(
            f"description of entry {instance.name!r} must be text of at most "
            f"{DESCRIPTION_LIMIT} characters, got {shown(value)}"
        )


def _tz(instance: Entry, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidEntry(
            f"tz of entry {instance.name!r} must be an IANA zone name such as "
            f"'Europe/Berlin', got {shown(value)}"
        )
    try:
        zone(value)
    except InvalidSchedule as exc:
        raise InvalidEntry(f"tz of entry {instance.name!r}: {exc}") from exc


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(instance: Entry, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or value not in choices:
            raise InvalidEntry(
                f"{attribute.name} of entry {instance.name!r} must be one of "
                f"{', '.join(choices)}, got {shown(value)}"
            )

    return check


def _seconds(what: str, least: str = ">=") -> Any:
    def check(instance: Entry, attribute: attrs.Attribute[Any], value: float | None) -> None:
        if value is None and what != "jitter":
            return
        if (
            not is_number(value)
            or not (value > 0 if least == ">" else value >= 0)
            or (value > MAX_SECONDS)
        ):
            raise InvalidEntry(
                f"{what} of entry {instance.name!r} must be a number of seconds {least} 0 and "
                f"<= {MAX_SECONDS}, got {shown(value)}"
            )

    return check


def _max_runs(instance: Entry, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (not is_integer(value) or not 1 <= value <= MAX_COUNT):
        raise InvalidEntry(
            f"max_runs of entry {instance.name!r} must be a positive integer (<= {MAX_COUNT}) "
            f"or None, got {shown(value)}"
        )


def _require_bool(instance: Entry, attribute: attrs.Attribute[bool], value: bool) -> None:
    if value is not True and value is not False:
        raise InvalidEntry(
            f"{attribute.name} of entry {instance.name!r} must be True or False, got {shown(value)}"
        )


def _require_instant(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or (isinstance(value, datetime) and value.tzinfo is UTC):
        return
    what = attribute.name
    label = f"{what} of entry {instance.name!r}" if isinstance(instance, Entry) else f"state {what}"
    if not isinstance(value, datetime):
        raise InvalidEntry(f"{label} must be an aware datetime or None, got {shown(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidSchedule(f"{label} must be a timezone-aware datetime, got naive {value!r}")
    raise InvalidSchedule(
        f"{label} {value.isoformat()} is outside the instants a datetime can hold in UTC"
    )


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

    def __attrs_post_init__(self) -> None:
        # Each field's check (_FIELD_CHECKS) in field order, as attrs validators would run
        # them, but only when the quick test of the usual values fails: an Entry is built for
        # every record read (twice per dispatched entry), and a call per field is most of it.
        # The quick test passes only values every check passes.
        name, task, start_at, end_at = self.name, self.task, self.start_at, self.end_at
        args, kwargs, options = self.args, self.kwargs, self.options
        max_runs, grace, jitter = self.max_runs, self.misfire_grace, self.jitter
        catch_up, description = self.catch_up, self.description
        if not (
            type(name) is str
            and name.isprintable()  # no Cc, Zl, Zp or surrogate: the name rule and encode()
            and name.strip()
            and type(task) is str
            and task.strip()
            and is_schedule(self.schedule)
            and type(args) is tuple
            and (not args or json_problem(args) is None)
            and type(kwargs) is dict
            and (not kwargs or json_problem(kwargs) is None)
            and type(options) is dict
            and (not options or json_problem(options) is None)
            and (self.enabled is True or self.enabled is False)
            and self.tz is None
            and (start_at is None or (type(start_at) is datetime and start_at.tzinfo is UTC))
            and (end_at is None or (type(end_at) is datetime and end_at.tzinfo is UTC))
            and (max_runs is None or (type(max_runs) is int and 1 <= max_runs <= MAX_COUNT))
            and type(catch_up) is str
            and catch_up in CATCH_UP_POLICIES
            and (
                grace is None
                or ((type(grace) is float or type(grace) is int) and 0 <= grace <= MAX_SECONDS)
            )
            and (type(jitter) is float or type(jitter) is int)
            and 0 <= jitter <= MAX_SECONDS
            and (self.static is True or self.static is False)
            and (
                description is None
                or (type(description) is str and len(description) <= DESCRIPTION_LIMIT)
            )
            and self.overlap == "allow"
            and self.overlap_timeout is None
        ):
            for attribute, check in _FIELD_CHECKS:
                check(self, attribute, getattr(self, attribute.name))
        if start_at and end_at and end_at < start_at:
            raise InvalidEntry(
                f"end_at of entry {self.name!r} ({end_at.isoformat()}) is before its "
                f"start_at ({start_at.isoformat()})"
            )

    def evolve(self, **changes: Any) -> Entry:
        """Return a copy with ``changes`` applied (validated like a new Entry)."""
        return attrs.evolve(self, **changes)


#: Each Entry field's check, in field order (see Entry.__attrs_post_init__).
_FIELD_CHECKS: tuple[tuple[attrs.Attribute[Any], Any], ...] = tuple(
    zip(
        attrs.fields(Entry),
        (
            _name,
            _task,
            _schedule,
            _require_json("args", tuple),
            _require_json("kwargs", dict),
            _require_json("options", dict),
            _require_bool,
            _tz,
            _require_instant,
            _require_instant,
            _max_runs,
            _one_of(CATCH_UP_POLICIES),
            _seconds("misfire_grace"),
            _seconds("jitter"),
            _require_bool,
            _description,
            _one_of(OVERLAP_POLICIES),
            _seconds("overlap_timeout", ">"),
        ),
        strict=True,
    )
)


def _count(instance: EntryState, attribute: attrs.Attribute[int], value: int) -> None:
    if not is_integer(value) or not 0 <= value <= MAX_COUNT:
        raise InvalidEntry(
            f"state {attribute.name} must be an integer from 0 to {MAX_COUNT}, got {shown(value)}"
        )


def _text(instance: EntryState, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidEntry(f"state {attribute.name} must be a string or None, got {shown(value)}")


def _check_state(state: EntryState) -> None:
    """Put the instants of ``state`` in UTC (``to_aware``), then raise the error of its first
    field that is not of its declared kind.

    Called by EntryState when its quick check fails (the usual field types are tested in
    one expression: a state is built for every dispatched entry and every record read).
    """
    for attribute in attrs.fields(EntryState):
        value = getattr(state, attribute.name)
        if attribute.name.endswith("_count"):
            _count(state, attribute, value)
        elif attribute.name.endswith("_at"):
            value = to_aware(value)  # an instant in another zone: in UTC
            object.__setattr__(state, attribute.name, value)
            _require_instant(state, attribute, value)
        else:
            _text(state, attribute, value)


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
