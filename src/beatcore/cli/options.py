"""Parsing what people type: ``--every 5m``, ``--cron``, ``--at``, ``--tz``, JSON arguments.

Each parser raises :class:`click.BadParameter`, which click prints as one line naming the option
and the value, with a non-zero exit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click

from beatcore.entry import CATCH_UP_POLICIES, OVERLAP_POLICIES, Entry
from beatcore.errors import BeatcoreError, InvalidSchedule
from beatcore.plugins import Plugins
from beatcore.schedules import Clocked, Crontab, Interval, ScheduleType
from beatcore.timeutil import UTC, wall_to_instant, zone
from beatcore.values import shown

F = TypeVar("F", bound=Callable[..., Any])

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
#: A Celery task name: dotted words (letters, digits, ``_``, ``-``, ``:``), no spaces.
_TASK_NAME = re.compile(r"^[A-Za-z_][\w\-:]*(\.[A-Za-z_][\w\-:]*)*$")


def parse_duration(text: str) -> float:
    """Return seconds for ``30s``, ``5m``, ``1h``, ``1d``, ``2w``, ``1h30m`` or plain ``90``.

    :raises ValueError: not a duration.
    """
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION_PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
            raise ValueError(
                f"{text!r} is not a duration (use 30s, 5m, 1h, 1d, 1h30m or seconds)"
            ) from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite duration")
    return seconds


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A duration option (``30s``, ``5m``, ``1h``, ``1d`` or seconds), converted to seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class JsonValue(click.ParamType):  # type: ignore[type-arg]
    """A JSON option that must decode to ``kind`` (``list`` or ``dict``)."""

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.name = "json " + ("list" if kind is list else "object")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.kind):
            return value
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            self.fail(f"{shown(value)} is not valid JSON ({exc})", param, ctx)
        if not isinstance(decoded, self.kind):
            want = "a JSON list like '[1, 2]'" if self.kind is list else "a JSON object like '{}'"
            self.fail(f"{value!r} must be {want}", param, ctx)
        return decoded


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


#: apply_async options whose wrong type Celery would only refuse at send time, with a check
#: and what it wants. Other keys pass as given (Celery and the transport read them).
_OPTION_CHECKS: dict[str, tuple[Any, str]] = {
    "priority": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255,
                 "an integer from 0 to 255"),
    "expires": (lambda v: (_is_number(v) and v >= 0) or isinstance(v, str),
                "seconds (a number >= 0) or an ISO 8601 time"),
    "countdown": (lambda v: _is_number(v) and v >= 0, "seconds (a number >= 0)"),
    "headers": (lambda v: isinstance(v, dict), "a JSON object"),
    "queue": (lambda v: isinstance(v, str) and bool(v), "a queue name"),
    "exchange": (lambda v: isinstance(v, str), "an exchange name"),
    "routing_key": (lambda v: isinstance(v, str), "a routing key"),
}  # fmt: skip


class TaskOptions(JsonValue):
    """``--options``: a JSON object of apply_async options, the common ones type-checked."""

    def __init__(self) -> None:
        super().__init__(dict)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        options = super().convert(value, param, ctx)
        for key, (check, want) in _OPTION_CHECKS.items():
            if key in options and not check(options[key]):
                self.fail(f"{key!r} must be {want}, got {shown(options[key])}", param, ctx)
        return options


class TimeZone(click.ParamType):  # type: ignore[type-arg]
    """An IANA time zone name (``Europe/Paris``), checked against the zone database."""

    name = "zone"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            zone(value)
        except InvalidSchedule as exc:
            self.fail(str(exc), param, ctx)
        return "UTC" if str(value).upper() == "UTC" else str(value)


class Cron(click.ParamType):  # type: ignore[type-arg]
    """A five-field cron expression, parsed into a :class:`~beatcore.schedules.Crontab`."""

    name = "cron"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Crontab):
            return value
        try:
            return Crontab(str(value))
        except InvalidSchedule as exc:
            self.fail(str(exc), param, ctx)


class TaskName(click.ParamType):  # type: ignore[type-arg]
    """A Celery task name (``proj.tasks.add``)."""

    name = "task"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not _TASK_NAME.match(str(value)):
            self.fail(
                f"{value!r} is not a task name (dotted words such as 'proj.tasks.add', no spaces)",
                param,
                ctx,
            )
        return str(value)


DURATION = Duration()
TIME_ZONE = TimeZone()
CRON = Cron()
TASK_NAME = TaskName()


def parse_instant(text: str, option: str, tz_name: str, now: datetime) -> datetime:
    """Return the aware UTC instant for ``--at``/``--start``/``--end``.

    Accepts ISO 8601 (``2026-03-01 09:00``, ``2026-03-01T09:00:00+01:00``, ``...Z``) and
    ``+DURATION`` (``+10m``: from now). A time without an offset is wall-clock time in
    ``tz_name`` (a time skipped by a DST change is taken as the end of the gap).

    :raises click.BadParameter: naming ``option`` and the value.
    """
    value = text.strip()
    if value.startswith("+"):
        try:
            return now + timedelta(seconds=parse_duration(value[1:]))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None
    iso = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date and time (use ISO 8601 like '2026-03-01 09:00' or "
            "'+10m' for ten minutes from now)",
            param_hint=f"'{option}'",
        ) from None
    if parsed.tzinfo is None:
        return wall_to_instant(parsed, zone(tz_name))
    return parsed.astimezone(UTC)


def past_at_note(entry: Entry, state_next_run_at: datetime | None, now: datetime) -> str | None:
    """Return what beat does with a one-off (``--at``) whose time is already past, or None.

    Called by ``add`` and ``edit`` after saving, so the person learns at once whether the run
    happens at beat's next tick or is skipped by the entry's ``--catch-up``/``--misfire-grace``.
    """
    if not isinstance(entry.schedule, Clocked) or entry.schedule.at > now:
        return None
    at = entry.schedule.at.isoformat()
    late = (now - entry.schedule.at).total_seconds()
    if state_next_run_at is None:
        return (
            f"note: --at {at} is past and the entry already ran it (or its start/end rule it out)"
        )
    if not entry.enabled:
        return f"note: --at {at} is past: beat runs it once at its next tick after it is enabled"
    if entry.misfire_grace is not None and late > entry.misfire_grace:
        return (
            f"note: --at {at} is {late:.0f}s past, later than --misfire-grace "
            f"{entry.misfire_grace:g}s: beat skips it at its next tick (logged and counted)"
        )
    if entry.catch_up == "skip":
        return (
            f"note: --at {at} is {late:.0f}s past: with --catch-up skip beat runs it only if its "
            "next tick comes within beatcore_missed_threshold (60 s by default) of that time, "
            "else it skips it (logged and counted)"
        )
    return f"note: --at {at} is {late:.0f}s past: beat runs it once at its next tick"


def build_schedule(
    plugins: Plugins,
    *,
    every: float | None,
    cron: Crontab | None,
    at: str | None,
    rrule: str | None,
    tz_name: str,
    now: datetime,
    spec: str | None = None,
) -> ScheduleType | None:
    """Return the schedule given by the one schedule option used, or None if none was.

    :raises click.UsageError: more than one schedule option.
    :raises click.BadParameter: the value is not a valid schedule of its kind.
    """
    given = {
        name: value
        for name, value in (
            ("--every", every),
            ("--cron", cron),
            ("--at", at),
            ("--rrule", rrule),
            ("--schedule", spec),
        )
        if value is not None
    }
    if len(given) > 1:
        raise click.UsageError(f"give one schedule option, not {len(given)}: {', '.join(given)}")
    if every is not None:
        try:
            return Interval(every)
        except InvalidSchedule as exc:
            raise click.BadParameter(str(exc), param_hint="'--every'") from None
    if cron is not None:
        return cron
    if at is not None:
        return Clocked(parse_instant(at, "--at", tz_name, now))
    if rrule is not None:
        return rrule_schedule(plugins, rrule)
    if spec is not None:
        return typed_schedule(plugins, spec)
    return None


def typed_schedule(plugins: Plugins, spec: str) -> ScheduleType:
    """Build a schedule of any registered type from ``TYPE:JSON`` (``--schedule``).

    ``JSON`` is the object the type's ``to_dict`` gives (what ``show --json`` prints under
    ``schedule``, without ``type``): ``interval:{"every": 90}``,
    ``example.every_nth_second:{"n": 15}``. A bare ``TYPE`` means ``TYPE:{}``.

    :raises click.BadParameter: unknown type, bad JSON, or values the type refuses.
    """
    hint = "'--schedule'"
    type_name, _, text = spec.partition(":")
    try:
        cls = plugins.schedule_type(type_name.strip())
    except BeatcoreError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None
    try:
        fields = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is not valid JSON ({exc}); use TYPE:JSON, e.g. 'interval:{{\"every\": 90}}'",
            param_hint=hint,
        ) from None
    if not isinstance(fields, dict):
        raise click.BadParameter(f"{text!r} must be a JSON object", param_hint=hint)
    try:
        return cls.from_dict(fields)
    except Exception as exc:  # a plugin's from_dict may raise anything: one line, named
        raise click.BadParameter(
            f"schedule type {type_name!r} refuses {text}: {type(exc).__name__}: {exc}",
            param_hint=hint,
        ) from None


def rrule_schedule(plugins: Plugins, text: str) -> ScheduleType:
    """Build the ``rrule`` schedule type's value from RFC 5545 text, through its plugin.

    The type is found by name in the plugin manager, never imported: it is the ``from_text``
    classmethod when the type has one, else its constructor called with the text.

    :raises click.BadParameter: the plugin is not installed or refuses the rule.
    """
    try:
        cls: Any = plugins.schedule_type("rrule")
    except BeatcoreError as exc:
        raise click.BadParameter(
            f"needs the beatcore-rrule plugin: {exc}", param_hint="'--rrule'"
        ) from None
    build = getattr(cls, "from_text", cls)
    try:
        schedule: ScheduleType = build(text)
    except (BeatcoreError, ValueError, TypeError) as exc:
        raise click.BadParameter(f"{text!r}: {exc}", param_hint="'--rrule'") from None
    return schedule


def definition_options(func: F) -> F:
    """Add the options that ``add`` and ``edit`` share (schedule, arguments, timing)."""
    options = [
        click.option("--every", type=DURATION, help="Run every 30s, 5m, 1h, 1d or N seconds."),
        click.option(
            "--cron",
            type=CRON,
            help="Cron expression or macro, e.g. '0 9 * * MON-FRI', '@daily', '0 9 * * FRIL'; "
            "day of month and day of week must both match (Celery's rule).",
        ),
        click.option("--at", "at", metavar="WHEN", help="Run once at ISO time or +DURATION."),
        click.option("--rrule", metavar="RULE", help="RFC 5545 rule (beatcore-rrule plugin)."),
        click.option(
            "--schedule",
            "schedule_spec",
            metavar="TYPE:JSON",
            help="Any registered schedule type, plugins' included, with its fields as JSON: "
            "'interval:{\"every\": 90}' (see show --json).",
        ),
        click.option("--tz", type=TIME_ZONE, help="Zone for cron/rrule and naive times."),
        click.option("--args", "args_", type=JsonValue(list), help="Task args as a JSON list."),
        click.option("--kwargs", "kwargs_", type=JsonValue(dict), help="Task kwargs as JSON."),
        click.option(
            "--options",
            "options_",
            type=TaskOptions(),
            help="All apply_async options as a JSON object: expires, priority, headers, "
            "exchange, routing_key, queue, ... (replaces the stored ones).",
        ),
        click.option("--queue", help="Queue to send to (apply_async queue option)."),
        click.option("--description", metavar="TEXT", help="What the entry is for ('' clears it)."),
        click.option("--jitter", type=DURATION, help="Most delay added to each run."),
        click.option(
            "--catch-up",
            type=click.Choice(CATCH_UP_POLICIES),
            help="After downtime: one run (latest), every missed run (all) or none (skip).",
        ),
        click.option("--start", metavar="WHEN", help="No run before this time."),
        click.option("--end", metavar="WHEN", help="No run after this time."),
        click.option("--max-runs", type=click.IntRange(min=1), help="Stop after N runs."),
        click.option("--misfire-grace", type=DURATION, help="Skip a run later than this."),
        click.option(
            "--overlap",
            type=click.Choice(OVERLAP_POLICIES),
            help="A run due while the last still runs: send it (allow), skip it (skip), or "
            "let one wait for its end (buffer_one); needs beatcore_track_runs.",
        ),
        click.option(
            "--overlap-timeout",
            type=DURATION,
            help="A run that never reports back blocks this long (default: the task's time "
            "limit, else beatcore_overlap_timeout).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func
