"""The verbs that act on an existing entry whole: remove, enable, disable, trigger, and
retry-unreadable for the entries beat could not read.

With ``--json`` each prints what it did as JSON (docs/cli.rst lists the fields).
"""

from __future__ import annotations

from typing import Any

import click

from beatcore.cli.changelog import change_json
from beatcore.cli.commands import echo_warnings, summary
from beatcore.cli.describe import describe_schedule
from beatcore.cli.reports import entry_json
from beatcore.cli.session import JSON_OPTION, Session, pass_session, report
from beatcore.timeutil import isoformat
from beatcore.values import printable


@click.command("remove")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Remove a static entry (it returns at beat's start).")
@JSON_OPTION
@pass_session
def remove(session: Session, name: str, yes: bool, force: bool, as_json: bool) -> None:
    """Remove entry NAME and its run history (its change log stays, with who removed it)."""
    ops = session.operations()
    entry = ops.check_deletable(name, force=force)
    what = (
        f"{describe_schedule(entry, session.default_tz)}, task {printable(entry.task)}"
        if entry is not None
        else "unreadable record"
    )
    if not yes:
        click.confirm(f"Remove entry {name!r} ({what})?", abort=True, err=True)
    done = ops.delete(name, by=session.by, force=force)
    echo_warnings(done.warnings)
    report(as_json, f"removed {name!r}", {"action": "removed", "name": name})


def _set_enabled(
    session: Session, name: str, enabled: bool, reason: str | None, as_json: bool
) -> None:
    ops = session.operations()
    if enabled:
        done = ops.enable(name, by=session.by, reason=reason)
    else:
        done = ops.disable(name, by=session.by, reason=reason)
    entry, state = done.entry, done.state
    assert entry is not None and state is not None
    data: dict[str, Any] = {
        "action": done.action,
        "name": name,
        "entry": entry_json(session, entry, state),
    }
    if done.action == "unchanged":
        word = "enabled" if enabled else "disabled"
        report(as_json, f"{name!r} is already {word}", data)
        return
    change = done.change
    data["change"] = change_json(change) if change else None
    because = f" ({printable(change.reason)})" if change and change.reason else ""
    report(as_json, f"{done.action} {name!r}{because}: {summary(session, entry, state)}", data)
    echo_warnings(done.warnings)


_REASON_OPTION = click.option(
    "--reason",
    metavar="TEXT",
    help="Why, for the change log (show and changes print it with who and when).",
)


@click.command("enable")
@click.argument("name")
@_REASON_OPTION
@JSON_OPTION
@pass_session
def enable(session: Session, name: str, reason: str | None, as_json: bool) -> None:
    """Enable entry NAME (its next run is computed from now; missed runs are not caught up)."""
    _set_enabled(session, name, True, reason, as_json)


@click.command("disable")
@click.argument("name")
@_REASON_OPTION
@JSON_OPTION
@pass_session
def disable(session: Session, name: str, reason: str | None, as_json: bool) -> None:
    """Disable (pause) entry NAME, saying why with --reason: it keeps its history and is
    never sent until enabled."""
    _set_enabled(session, name, False, reason, as_json)


@click.command("trigger")
@click.argument("name")
@_REASON_OPTION
@JSON_OPTION
@pass_session
def trigger(session: Session, name: str, reason: str | None, as_json: bool) -> None:
    """Run entry NAME once at beat's next tick, besides its schedule (also when disabled)."""
    now = session.now()
    done = session.operations().trigger(name, by=session.by, at=now, reason=reason)
    echo_warnings(done.warnings)
    report(
        as_json,
        f"triggered {name!r}: runs at beat's next tick with task id {done.task_id}",
        {"action": "triggered", "name": name, "at": isoformat(now), "task_id": done.task_id},
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
