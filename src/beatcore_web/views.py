"""What the pages and the API show of an entry: the same facts, as JSON and as words.

Words come from the CLI's own helpers (:mod:`beatcore.cli.describe`), so a schedule, an
instant or a run reads the same in a shell and in the browser.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beatcore import timing
from beatcore.cli.describe import describe_schedule, entry_tz, format_instant, relative
from beatcore.cli.reading import overdue_by
from beatcore.cli.reports import occurrences
from beatcore.cli.runs import OUTCOME_WORDS, run_json
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.serializer import entry_to_dict, state_to_dict
from beatcore.store import RunRecord
from beatcore.timeutil import isoformat


def definition_json(entry: Entry) -> dict[str, Any]:
    """Return the definition as the API takes it back (``schedule`` with its ``type``)."""
    data: dict[str, Any] = entry_to_dict(entry)
    data.pop("v", None)
    data.setdefault("description", None)
    return data


def entry_json(
    entry: Entry, state: EntryState, now: datetime, default_tz: str, overdue_after: float
) -> dict[str, Any]:
    """Return one entry of the API's listing: definition, state, due time and overdue."""
    data = definition_json(entry)
    data["readable"] = True
    data["schedule_text"] = describe_schedule(entry, default_tz)
    state_data = state_to_dict(state)
    state_data.pop("v", None)
    data["state"] = state_data
    data["due_at"] = isoformat(timing.state_due_at(entry, state))
    data["overdue_by"] = overdue_by(entry, state, now, overdue_after)
    return data


def unreadable_json(error: CorruptRecord) -> dict[str, Any]:
    """Return a record that cannot be read, as the listing shows it."""
    return {
        "name": error.name,
        "readable": False,
        "error": error.cause,
        "since": isoformat(error.since),
    }


def row(
    entry: Entry,
    state: EntryState,
    now: datetime,
    default_tz: str,
    overdue_after: float,
    last: RunRecord | None,
) -> dict[str, Any]:
    """Return the cells of the entries table for one readable entry (text, not yet escaped)."""
    tz = entry_tz(entry, default_tz)
    due = timing.state_due_at(entry, state)
    late = overdue_by(entry, state, now, overdue_after)
    if due is None:
        next_text, next_rel = ("disabled" if not entry.enabled else "never"), ""
    else:
        next_text, next_rel = format_instant(due, tz), relative(due, now)
    return {
        "name": entry.name,
        "readable": True,
        "task": entry.task,
        "schedule": describe_schedule(entry, default_tz),
        "next": next_text,
        "next_relative": next_rel,
        "overdue": late is not None,
        "last_run": relative(state.last_run_at, now) if state.last_run_at else "never",
        "last_outcome": outcome_text(last) if last else "-",
        "last_error": state.last_error,
        "runs": state.total_run_count,
        "enabled": entry.enabled,
        "static": entry.static,
        "description": entry.description,
    }


def unreadable_row(error: CorruptRecord, now: datetime) -> dict[str, Any]:
    """Return the cells of the entries table for a record that cannot be read."""
    return {
        "name": error.name,
        "readable": False,
        "error": error.cause,
        "since": relative(error.since, now) if error.since else None,
    }


def next_runs(
    entry: Entry, state: EntryState, count: int, default_tz: str, now: datetime
) -> list[dict[str, Any]]:
    """Return the coming runs: occurrence, due instant with jitter, both in words and ISO."""
    tz = entry_tz(entry, default_tz)
    return [
        {
            "occurrence": isoformat(occurrence),
            "due_at": isoformat(due),
            "jitter_seconds": (due - occurrence).total_seconds(),
            "text": format_instant(due, tz),
            "relative": relative(due, now),
        }
        for occurrence, due in occurrences(entry, state, count, default_tz)
    ]


def worker_report(run: RunRecord) -> dict[str, Any]:
    """Return what the worker reported of ``run`` (``beatcore_track_runs``): status, start,
    end, runtime, error, worker and retries; empty when nothing was reported."""
    if run.status is None:
        return {}
    found: dict[str, Any] = {"status": run.status, "retries": run.retries}
    for field, value in (
        ("started_at", isoformat(run.started_at)),
        ("finished_at", isoformat(run.finished_at)),
        ("runtime", run.runtime),
        ("error", run.error),
        ("worker", run.worker),
    ):
        if value is not None:
            found[field] = value
    return found


def outcome_text(run: RunRecord) -> str:
    """Return what became of ``run`` in words: the worker's status when reported, else beat's."""
    return run.status or OUTCOME_WORDS.get(run.outcome, run.outcome)


def runs_json(runs: list[RunRecord], entry: Entry, default_tz: str) -> list[dict[str, Any]]:
    """Return the run history (newest first) with the occurrence in the entry's zone and
    the worker's report of each run, where there is one."""
    tz = entry_tz(entry, default_tz)
    shown = []
    for run in runs:
        data = run_json(run)
        data.update(worker_report(run))
        data["occurrence_text"] = format_instant(run.occurrence, tz)
        data["outcome_text"] = OUTCOME_WORDS.get(run.outcome, run.outcome)
        shown.append(data)
    return shown
