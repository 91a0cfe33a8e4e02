"""``celery beatcore history NAME``: what became of each recent occurrence of an entry.

For each occurrence: when it was due, when beat sent it and how late, what beat did (sent,
re-sent, skipped, send failed) and, where the worker reports runs (``beatcore_track_runs``),
what the worker made of it (running, succeeded, failed, retried) and how long it ran. Also the
lines ``show`` ends with (:func:`run_lines`). Reads :meth:`Store.history`; a store that keeps
no history shows none.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

import click

from beatcore.cli.describe import amount, entry_tz, format_instant, table
from beatcore.cli.session import Session, echo_json, pass_session
from beatcore.store import RunRecord, Store
from beatcore.timeutil import isoformat
from beatcore.values import printable

#: How each of beat's outcomes reads in a table.
OUTCOME_WORDS = {
    "sent": "sent",
    "resent": "re-sent (its leader died)",
    "skipped": "skipped",
    "send_failed": "send failed",
}
#: How each worker status reads in a table (``started``: the run is still going).
STATUS_WORDS = {
    "started": "running",
    "retried": "retrying",
    "succeeded": "succeeded",
    "failed": "failed",
}


def worker_facts(run: RunRecord) -> dict[str, Any]:
    """Return what the worker reported of ``run`` (``beatcore_track_runs``), by field; None
    where it reported nothing (tracking off, not yet, or a record from before the fields)."""
    return {
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "runtime": run.runtime,
        "error": run.error,
        "worker": run.worker,
        "retries": run.retries,
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    """Return beat's facts of one run record as JSON (:func:`run_report_json` adds the
    worker's)."""
    return {
        "occurrence": isoformat(run.occurrence),
        "task_id": run.task_id,
        "outcome": run.outcome,
        "detail": run.detail,
        "sent_at": None if run.sent_at is None else isoformat(run.sent_at),
        "late_seconds": run.lateness,
    }


def run_report_json(run: RunRecord) -> dict[str, Any]:
    """Return the ``--json`` form of one run record in ``history`` and ``show``: beat's facts
    and the worker's, every key present (null where the worker reported nothing)."""
    data = run_json(run)
    for field, value in worker_facts(run).items():
        data[field] = isoformat(value) if isinstance(value, datetime) else value
    return data


def outcome_words(run: RunRecord) -> str:
    """Return what became of ``run`` in words: the worker's last report when there is one
    (``running``, ``succeeded``, ...), else what beat did (``sent``, ``skipped``, ...)."""
    if run.status:
        return STATUS_WORDS.get(run.status, run.status)
    return OUTCOME_WORDS.get(run.outcome, run.outcome)


def _runtime(run: RunRecord, now: datetime | None) -> str:
    if run.status == "started" and run.started_at is not None and now is not None:
        return f"{amount((now - run.started_at).total_seconds())} so far"
    return "-" if run.runtime is None else f"{run.runtime:.3f} s"


def _detail(run: RunRecord) -> str:
    text = run.error or run.detail
    return printable(text) if text else ""


def last_runs(store: Store, names: Sequence[str]) -> dict[str, RunRecord]:
    """Return the newest run record of each of ``names`` that has one (``list``'s last
    outcome), through :meth:`Store.last_runs` (the memory and SQLite stores read them in
    one go; its default reads each entry's history)."""
    return store.last_runs(names)


def run_lines(runs: Sequence[RunRecord], tz: tzinfo, now: datetime | None = None) -> list[str]:
    """Return a table of ``runs`` (newest first), one line each with a header: occurrence,
    when it was sent, how late, what became of it, how long it ran (for a run still going,
    how long so far, from ``now``), its task id and why (skip reason, send or task error)."""
    if not runs:
        return ["  none recorded"]
    rows = [
        [
            format_instant(run.occurrence, tz),
            format_instant(run.sent_at, tz) if run.sent_at else "-",
            "-" if run.lateness is None else f"{run.lateness:.3f} s",
            outcome_words(run),
            _runtime(run, now),
            run.task_id,
            _detail(run),
        ]
        for run in runs
    ]
    headers = ["OCCURRENCE", "SENT", "LATE", "OUTCOME", "RUNTIME", "TASK ID", "DETAIL"]
    return ["  " + line for line in table(headers, rows).splitlines()]


@click.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True,
              help="How many runs to list, newest first.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def history(session: Session, name: str, limit: int, as_json: bool) -> None:
    """List what became of the latest occurrences of entry NAME: when beat sent each and how
    late, or why it skipped it or could not send it; with run tracking, whether the worker
    is still running it, it succeeded or failed (and the error), and how long it ran."""
    store = session.existing_store
    entry = store.get(name)
    runs = store.history(name, limit)
    if as_json:
        echo_json({"name": entry.name, "runs": [run_report_json(run) for run in runs]})
        return
    click.echo(f"runs of {printable(entry.name)}, newest first:")
    for line in run_lines(runs, entry_tz(entry, session.default_tz), session.now()):
        click.echo(line)
