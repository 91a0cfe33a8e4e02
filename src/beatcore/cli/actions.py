"""The verbs that act on an existing entry whole: remove, enable, disable, trigger, and
retry-unreadable for the entries beat could not read.

With ``--json`` each prints what it did as JSON (docs/cli.rst lists the fields).
"""

from __future__ import annotations

import click

from beatcore import timing
from beatcore.cli.commands import static_refusal, summary
from beatcore.cli.describe import describe_schedule
from beatcore.cli.reports import entry_json
from beatcore.cli.session import JSON_OPTION, Session, pass_session, report
from beatcore.entry import Entry
from beatcore.errors import CorruptRecord
from beatcore.timeutil import isoformat
from beatcore.values import printable


@click.command("remove")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Remove a static entry (it returns at beat's start).")
@JSON_OPTION
@pass_session
def remove(session: Session, name: str, yes: bool, force: bool, as_json: bool) -> None:
    """Remove entry NAME and its run history."""
    store = session.existing_store
    try:
        entry: Entry | None = store.get(name)
    except CorruptRecord:
        entry = None  # an unreadable record can still be removed
    if entry is not None and entry.static and not force:
        raise click.ClickException(static_refusal(name, "remove"))
    what = (
        f"{describe_schedule(entry, session.default_tz)}, task {printable(entry.task)}"
        if entry is not None
        else "unreadable record"
    )
    if not yes:
        click.confirm(f"Remove entry {name!r} ({what})?", abort=True, err=True)
    store.delete(name)
    report(as_json, f"removed {name!r}", {"action": "removed", "name": name})


def _set_enabled(session: Session, name: str, enabled: bool, as_json: bool) -> None:
    store = session.existing_store
    entry = store.get(name)
    word = "enabled" if enabled else "disabled"
    if entry.enabled == enabled:
        state = store.state(name)
        report(
            as_json,
            f"{name!r} is already {word}",
            {"action": "unchanged", "name": name, "entry": entry_json(session, entry, state)},
        )
        return
    store.set_enabled(name, enabled)
    state = store.state(name)
    changed = entry.evolve(enabled=enabled)
    report(
        as_json,
        f"{word} {name!r}: {summary(session, changed, state)}",
        {"action": word, "name": name, "entry": entry_json(session, changed, state)},
    )
    if entry.static:
        click.echo(
            f"note: {name!r} is static; beat_schedule decides whether it is enabled at beat's "
            "next start",
            err=True,
        )


@click.command("enable")
@click.argument("name")
@JSON_OPTION
@pass_session
def enable(session: Session, name: str, as_json: bool) -> None:
    """Enable entry NAME (its next run is computed from now; missed runs are not caught up)."""
    _set_enabled(session, name, True, as_json)


@click.command("disable")
@click.argument("name")
@JSON_OPTION
@pass_session
def disable(session: Session, name: str, as_json: bool) -> None:
    """Disable entry NAME (it keeps its history and is never sent until enabled)."""
    _set_enabled(session, name, False, as_json)


@click.command("trigger")
@click.argument("name")
@JSON_OPTION
@pass_session
def trigger(session: Session, name: str, as_json: bool) -> None:
    """Run entry NAME once at beat's next tick, besides its schedule (also when disabled)."""
    store = session.existing_store
    store.get(name)
    now = session.now()
    store.trigger(name, now)
    task_id = timing.task_id(name, now)
    report(
        as_json,
        f"triggered {name!r}: runs at beat's next tick with task id {task_id}",
        {"action": "triggered", "name": name, "at": isoformat(now), "task_id": task_id},
    )


@click.command("retry-unreadable")
@JSON_OPTION
@pass_session
def retry_unreadable(session: Session, as_json: bool) -> None:
    """Put back the entries beat took out as unreadable whose records read now.

    Beat does this itself at each start; this asks for it now (with the schedule types this
    command knows). Those still unreadable are named.
    """
    store = session.existing_store
    revived = store.retry_unreadable(session.now())
    still = store.unreadable_records()
    for error in still:
        click.echo(f"still unreadable: {error}", err=True)
    lines = [f"revived {name!r}" for name in revived]
    lines.append(f"{len(revived)} revived, {len(still)} still unreadable")
    report(
        as_json,
        "\n".join(lines),
        {"revived": revived, "unreadable": [{"name": e.name, "error": e.cause} for e in still]},
    )
