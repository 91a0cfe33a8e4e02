"""``celery beatcore changes [NAME]``: the change log, who changed what, when and why.

Also the lines ``show`` ends with (:func:`change_lines`) and the ``--json`` form the
mutating verbs print (:func:`change_json`). Reads :meth:`Store.changes`; a store that keeps
no log shows none. The log of a deleted entry is still there, so NAME need not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import click

from beatcore.cli.describe import entry_tz, format_instant, table
from beatcore.cli.session import JSON_OPTION, Session, echo_json, pass_session
from beatcore.errors import CorruptRecord, EntryNotFound
from beatcore.store import Change
from beatcore.timeutil import isoformat, zone
from beatcore.values import printable


def change_json(change: Change) -> dict[str, Any]:
    """Return the ``--json`` form of one change."""
    return {
        "name": change.name,
        "action": change.action,
        "at": isoformat(change.at),
        "by": change.by,
        "reason": change.reason,
        "fields": list(change.fields),
        "via": change.via,
    }


def what_changed(change: Change) -> str:
    """Return a change's action in words: ``update (schedule, task)``, ``add (import)``."""
    parts = [*change.fields, *([change.via] if change.via else [])]
    return f"{change.action} ({', '.join(parts)})" if parts else change.action


def change_lines(changes: Sequence[Change], tz: tzinfo, *, with_names: bool = False) -> list[str]:
    """Return a table of ``changes`` (newest first): when, what, by whom and why, one line
    each, with a header (and the entry's name with ``with_names``)."""
    if not changes:
        return ["  none recorded"]
    rows = [
        [
            *([printable(change.name)] if with_names else []),
            format_instant(change.at, tz),
            what_changed(change),
            printable(change.by) if change.by else "-",
            printable(change.reason) if change.reason else "",
        ]
        for change in changes
    ]
    headers = [*(["NAME"] if with_names else []), "WHEN", "WHAT", "BY", "REASON"]
    return ["  " + line.rstrip() for line in table(headers, rows).splitlines()]


def _zone(session: Session, name: str | None) -> tzinfo:
    if name is not None:
        try:
            return entry_tz(session.existing_store.get(name), session.default_tz)
        except (EntryNotFound, CorruptRecord):
            pass  # deleted (or unreadable): the app's zone
    return zone(session.default_tz)


@click.command("changes")
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True,
              help="How many changes to list, newest first.")  # fmt: skip
@JSON_OPTION
@pass_session
def changes(session: Session, name: str | None, limit: int, as_json: bool) -> None:
    """List the latest changes to entry NAME (or to every entry): when, what (added,
    updated and which fields, removed, enabled, disabled, triggered; by import, migration
    or beat's beat_schedule sync), by whom and why. Kept after an entry is removed."""
    store = session.existing_store
    found = store.changes(name, limit)
    if as_json:
        echo_json({"name": name, "changes": [change_json(change) for change in found]})
        return
    whose = printable(name) if name is not None else "the schedule"
    click.echo(f"changes of {whose}, newest first:")
    for line in change_lines(found, _zone(session, name), with_names=name is None):
        click.echo(line)
