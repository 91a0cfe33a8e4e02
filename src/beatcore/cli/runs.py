"""``celery beatcore history NAME``: what beat did with each recent occurrence of an entry.

Also the lines ``show`` ends with (:func:`run_lines`). Reads :meth:`Store.history`; a store
that keeps no history shows none.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import click

from beatcore.cli.describe import entry_tz, format_instant
from beatcore.cli.session import Session, echo_json, pass_session
from beatcore.store import RunRecord
from beatcore.timeutil import isoformat
from beatcore.values import printable

#: How each outcome reads in a table.
OUTCOME_WORDS = {
    "sent": "sent",
    "resent": "re-sent (its leader died)",
    "skipped": "skipped",
    "send_failed": "send failed",
}


def run_json(run: RunRecord) -> dict[str, Any]:
    """Return the ``--json`` form of one run record."""
    return {
        "occurrence": isoformat(run.occurrence),
        "task_id": run.task_id,
        "outcome": run.outcome,
        "detail": run.detail,
        "sent_at": None if run.sent_at is None else isoformat(run.sent_at),
        "late_seconds": run.lateness,
    }


def run_lines(runs: Sequence[RunRecord], tz: tzinfo) -> list[str]:
    """Return a table of ``runs`` (newest first): occurrence, outcome, lateness, task id and
    why (skip reason or send error), one line each, with a header."""
    if not runs:
        return ["  none recorded"]
    rows = [("OCCURRENCE", "OUTCOME", "LATE", "TASK ID", "DETAIL")]
    for run in runs:
        late = "-" if run.lateness is None else f"{run.lateness:.3f} s"
        rows.append(
            (
                format_instant(run.occurrence, tz),
                OUTCOME_WORDS.get(run.outcome, run.outcome),
                late,
                run.task_id,
                printable(run.detail) if run.detail else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return ["  " + "".join(row[i].ljust(widths[i] + 2) for i in range(4)) + row[4] for row in rows]


@click.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True,
              help="How many runs to list, newest first.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def history(session: Session, name: str, limit: int, as_json: bool) -> None:
    """List what beat did with the latest occurrences of entry NAME: sent (when, how late),
    re-sent after a leader died, skipped and why, or failed to send and the error."""
    store = session.existing_store
    entry = store.get(name)
    runs = store.history(name, limit)
    if as_json:
        echo_json({"name": entry.name, "runs": [run_json(run) for run in runs]})
        return
    click.echo(f"runs of {printable(entry.name)}, newest first:")
    for line in run_lines(runs, entry_tz(entry, session.default_tz)):
        click.echo(line.rstrip())
