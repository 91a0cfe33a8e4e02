"""The verbs that define entries: ``add`` and ``edit``.

A running beat sees each change at its next tick; nothing here needs beat to be stopped. The
verbs that act on an existing entry whole (remove, enable, disable, trigger, retry-unreadable)
are in :mod:`beatcore.cli.actions`. With ``--json`` each prints what changed as JSON
(docs/cli.rst lists the fields).
"""

from __future__ import annotations

from typing import Any

import click

from beatcore import timing
from beatcore.cli.describe import describe_schedule, entry_tz, when
from beatcore.cli.options import (
    TASK_NAME,
    build_schedule,
    definition_options,
    parse_instant,
    past_at_note,
)
from beatcore.cli.reports import entry_json
from beatcore.cli.session import JSON_OPTION, Session, pass_session, report
from beatcore.entry import Entry, EntryState
from beatcore.errors import ChangeRefused, CorruptRecord
from beatcore.operations import apply_fields
from beatcore.schedules import Crontab, ScheduleType
from beatcore.values import printable

_NONE_WORDS = {"none", "never", ""}


def summary(session: Session, entry: Entry, state: EntryState) -> str:
    due = timing.state_due_at(entry, state)
    tz = entry_tz(entry, session.default_tz)
    next_text = when(due, tz, session.now()) if due else "none"
    if not entry.enabled:
        next_text = "none (disabled)"
    return (
        f"{describe_schedule(entry, session.default_tz)}, task {printable(entry.task)}; "
        f"next run {next_text}"
    )


def _changes(
    session: Session,
    *,
    tz: str | None,
    base_tz: str | None,
    args_: list[Any] | None,
    kwargs_: dict[str, Any] | None,
    queue: str | None,
    jitter: float | None,
    catch_up: str | None,
    start: str | None,
    end: str | None,
    max_runs: int | None,
    misfire_grace: float | None,
    options_: dict[str, Any] | None,
    description: str | None,
    overlap: str | None,
    overlap_timeout: float | None,
) -> dict[str, Any]:
    """Return the Entry fields the options set (``--start none`` clears a time)."""
    changes: dict[str, Any] = {}
    if tz is not None:
        changes["tz"] = tz
    wall_tz = tz or base_tz or session.default_tz
    now = session.now()
    for option, field, value in (("--start", "start_at", start), ("--end", "end_at", end)):
        if value is not None:
            changes[field] = (
                None
                if value.strip().lower() in _NONE_WORDS
                else parse_instant(value, option, wall_tz, now)
            )
    if args_ is not None:
        changes["args"] = tuple(args_)
    if kwargs_ is not None:
        changes["kwargs"] = kwargs_
    if jitter is not None:
        changes["jitter"] = jitter
    if catch_up is not None:
        changes["catch_up"] = catch_up
    if max_runs is not None:
        changes["max_runs"] = max_runs
    if misfire_grace is not None:
        changes["misfire_grace"] = misfire_grace
    if options_ is not None:
        changes["options"] = options_
    if queue is not None:
        changes["queue"] = queue
    if description is not None:
        changes["description"] = None if description == "" else description
    if overlap is not None:
        changes["overlap"] = overlap
    if overlap_timeout is not None:
        changes["overlap_timeout"] = overlap_timeout or None  # 0: back to the default
    return changes


def _schedule(session: Session, tz_name: str, **given: Any) -> ScheduleType | None:
    return build_schedule(session.plugins, tz_name=tz_name, now=session.now(), **given)


def _note_past_at(session: Session, entry: Entry, state: EntryState) -> None:
    note = past_at_note(entry, state.next_run_at, session.now())
    if note:
        click.echo(note, err=True)


def echo_warnings(warnings: tuple[str, ...]) -> None:
    """Print an operation's warnings and notes to stderr."""
    for warning in warnings:
        click.echo(warning, err=True)


@click.command("add")
@click.argument("name")
@click.argument("task", type=TASK_NAME)
@definition_options
@click.option("--disabled", is_flag=True, help="Add it disabled.")
@click.option("--replace", is_flag=True, help="Overwrite an entry with the same name.")
@click.option("--force", is_flag=True, help="With --replace: overwrite a static entry too.")
@JSON_OPTION
@pass_session
def add(
    session: Session,
    name: str,
    task: str,
    every: float | None,
    cron: Crontab | None,
    at: str | None,
    rrule: str | None,
    disabled: bool,
    replace: bool,
    force: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Add entry NAME that sends TASK on a schedule (one of --every, --cron, --at, --rrule,
    --schedule TYPE:JSON)."""
    tz_name = options["tz"] or session.default_tz
    schedule = _schedule(
        session, tz_name, every=every, cron=cron, at=at, rrule=rrule,
        spec=options.pop("schedule_spec"),
    )  # fmt: skip
    if schedule is None:
        raise click.UsageError("give a schedule: --every, --cron, --at, --rrule or --schedule")
    changes = _changes(session, base_tz=None, **options)
    fields = apply_fields({"options": {}}, changes)
    entry = Entry(name=name, task=task, schedule=schedule, enabled=not disabled, **fields)
    ops = session.operations(create=True)
    try:
        done = ops.save(entry, by=session.by, replace=replace, force=force)
    except ChangeRefused as exc:
        try:
            existing = ops.existing(name) if exc.kind == "exists" else None
        except CorruptRecord:
            existing = None
        if existing is None:
            raise
        raise click.ClickException(
            f"entry {name!r} already exists ({describe_schedule(existing, session.default_tz)}"
            f", task {printable(existing.task)}); pass --replace to overwrite it"
        ) from None
    echo_warnings(done.warnings)
    state = done.state
    assert state is not None
    verb = "added" if done.action == "added" else "replaced"
    report(
        as_json,
        f"{verb} {name!r}: {summary(session, entry, state)}",
        {"action": verb, "name": name, "entry": entry_json(session, entry, state)},
    )
    _note_past_at(session, entry, state)


@click.command("edit")
@click.argument("name")
@click.option("--task", type=TASK_NAME, help="Send this task instead.")
@definition_options
@click.option("--enabled/--disabled", "enabled", default=None, help="Enable or disable it.")
@click.option("--force", is_flag=True, help="Edit a static entry (beat_schedule wins at restart).")
@JSON_OPTION
@pass_session
def edit(
    session: Session,
    name: str,
    task: str | None,
    every: float | None,
    cron: Crontab | None,
    at: str | None,
    rrule: str | None,
    enabled: bool | None,
    force: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Change entry NAME; options not given keep their value, and its run history is kept.

    --start/--end/--queue take 'none' to clear them.
    """
    ops = session.operations()
    entry = ops.check_editable(name, force=force)
    tz_name = options["tz"] or entry.tz or session.default_tz
    schedule = _schedule(
        session, tz_name, every=every, cron=cron, at=at, rrule=rrule,
        spec=options.pop("schedule_spec"),
    )  # fmt: skip
    changes = _changes(session, base_tz=entry.tz, **options)
    if schedule is not None:
        changes["schedule"] = schedule
    if task is not None:
        changes["task"] = task
    if enabled is not None:
        changes["enabled"] = enabled
    done = ops.edit(name, changes, by=session.by, force=force)
    echo_warnings(done.warnings)
    new, state = done.entry, done.state
    assert new is not None and state is not None
    if done.action == "unchanged":
        report(
            as_json,
            f"unchanged {name!r}: {summary(session, new, state)}",
            {"action": "unchanged", "name": name, "changed": [],
             "entry": entry_json(session, new, state)},
        )  # fmt: skip
        return
    changed = list(done.changed)
    report(
        as_json,
        f"updated {name!r} ({', '.join(changed)}): {summary(session, new, state)}",
        {"action": "updated", "name": name, "changed": changed,
         "entry": entry_json(session, new, state)},
    )  # fmt: skip
    _note_past_at(session, new, state)
