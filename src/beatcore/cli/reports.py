"""The verbs that only read a schedule for people: ``list`` and ``show``.

``status``, the health check, is in :mod:`beatcore.cli.health`.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

import click

from beatcore import timing
from beatcore.cli.changelog import change_json, change_lines, what_changed
from beatcore.cli.describe import (
    PagedTable,
    describe_schedule,
    entry_tz,
    format_instant,
    relative,
    shorten,
    when,
)
from beatcore.cli.options import DURATION
from beatcore.cli.reading import overdue_by, schedule_pages
from beatcore.cli.runs import last_runs, outcome_words, run_lines, run_report_json
from beatcore.cli.session import Session, echo_json, json_list_chunks, pass_session
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.operations import pause_of
from beatcore.serializer import entry_to_dict, state_to_dict
from beatcore.store import Change, RunRecord
from beatcore.timeutil import isoformat
from beatcore.values import printable


def entry_json(session: Session, entry: Entry, state: EntryState) -> dict[str, Any]:
    """Return the ``--json`` form of one entry: its fields, schedule in words and state."""
    data: dict[str, Any] = entry_to_dict(entry)
    data.pop("v", None)
    data["readable"] = True
    data.setdefault("description", None)
    data["schedule_text"] = describe_schedule(entry, session.default_tz)
    state_data = state_to_dict(state)
    state_data.pop("v", None)
    data["state"] = state_data
    data["due_at"] = isoformat(timing.state_due_at(entry, state))
    return data


@click.command("list")
@click.argument("pattern", required=False)
@click.option("--enabled/--disabled", "enabled", default=None, help="Only enabled/disabled.")
@click.option("--static/--dynamic", "static", default=None, help="Only static/dynamic.")
@click.option("--overdue-after", type=DURATION, help="Flag entries this late as overdue "
              "(default: beatcore_missed_threshold).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def list_entries(
    session: Session,
    pattern: str | None,
    enabled: bool | None,
    static: bool | None,
    overdue_after: float | None,
    as_json: bool,
) -> None:
    """List entries, optionally only those whose name matches the glob PATTERN.

    Entries beat cannot read are listed too, with why; entries more than --overdue-after past
    their due time are flagged overdue. The schedule is read and printed a page of 1,000
    entries at a time (see docs/cli.rst for how the table's columns line up).
    """
    store = session.existing_store
    now = session.now()
    threshold = session.settings.missed_threshold if overdue_after is None else overdue_after
    bad: list[CorruptRecord] = []
    words = RowWords(session.default_tz, now)

    def matching() -> Iterator[list[tuple[Entry, EntryState] | CorruptRecord]]:
        for page in schedule_pages(store):
            kept: list[tuple[Entry, EntryState] | CorruptRecord] = []
            for item in page:
                if isinstance(item, CorruptRecord):
                    if pattern is None or fnmatch.fnmatchcase(item.name, pattern):
                        kept.append(item)
                        bad.append(item)
                    continue
                entry = item[0]
                if pattern is not None and not fnmatch.fnmatchcase(entry.name, pattern):
                    continue
                if enabled is not None and entry.enabled != enabled:
                    continue
                if static is not None and entry.static != static:
                    continue
                kept.append(item)
            if kept:
                yield kept

    def rows_of(page: list[tuple[Entry, EntryState] | CorruptRecord]) -> Iterator[Any]:
        names = [item[0].name for item in page if not isinstance(item, CorruptRecord)]
        last = last_runs(store, names)
        for item in page:
            if isinstance(item, CorruptRecord):
                yield _unreadable_json(item) if as_json else _unreadable_cells(item, now)
                continue
            entry, state = item
            run = last.get(entry.name)
            if as_json:
                data = entry_json(session, entry, state)
                data["overdue_by"] = overdue_by(entry, state, now, threshold)
                data["last_outcome"] = None if run is None else run_report_json(run)
                yield data
            else:
                yield _entry_cells(words, entry, state, run, now, threshold)

    pages = (list(rows_of(page)) for page in matching())
    if as_json:
        for chunk in json_list_chunks(row for page in pages for row in page):
            click.echo(chunk, nl=False)
        click.echo("")
    else:
        lines = PagedTable(LIST_HEADERS, optional_last=True).lines(pages)
        printed = False
        for line in lines:
            click.echo(line)
            printed = True
        if not printed:
            click.echo("no entries")
    _warn_unreadable(bad)


#: The columns of ``list``; the last (DESCRIPTION) only when some entry has one.
LIST_HEADERS = ("NAME", "SCHEDULE", "NEXT RUN", "LAST RUN", "LAST OUTCOME", "RUNS", "ENABLED",
                "KIND", "LAST ERROR", "DESCRIPTION")  # fmt: skip


class RowWords:
    """The words ``list``'s rows share, made once per distinct value in one listing: entries
    read with one schedule object (a store decodes the entries that differ only in their
    name from one template) show the same schedule in words, and entries due at one instant
    the same next run (formatting them is most of a row's cost). Schedules are told apart by
    identity, not equality: equal crontabs may be spelt differently (``0`` and ``00``), and
    each entry shows its own spelling. At most :data:`LIMIT` of each are kept.

    :param default_tz: the app's zone (entries without their own).
    :param now: the listing's one ``now`` (the relative times depend on it).
    """

    LIMIT = 4096

    def __init__(self, default_tz: str, now: datetime) -> None:
        self.default_tz = default_tz
        self.now = now
        #: (id of the schedule, the entry's tz) -> (that schedule, held so its id stays its
        #: own while the memo lives, and its words)
        self._schedules: dict[tuple[int, str | None], tuple[Any, str]] = {}
        self._instants: dict[tuple[datetime, tzinfo], str] = {}

    def schedule(self, entry: Entry) -> str:
        """Return :func:`describe_schedule` of ``entry``."""
        key = (id(entry.schedule), entry.tz)
        found = self._schedules.get(key)
        if found is not None:
            return found[1]
        text = describe_schedule(entry, self.default_tz)
        if len(self._schedules) < self.LIMIT:
            self._schedules[key] = (entry.schedule, text)
        return text

    def instant(self, value: datetime, tz: tzinfo) -> str:
        """Return :func:`when` of ``value`` shown in ``tz``."""
        key = (value, tz)
        text = self._instants.get(key)
        if text is None:
            text = when(value, tz, self.now)
            if len(self._instants) < self.LIMIT:
                self._instants[key] = text
        return text


def _entry_cells(
    words: RowWords,
    entry: Entry,
    state: EntryState,
    run: RunRecord | None,
    now: datetime,
    threshold: float,
) -> list[str]:
    """One readable entry's row of the ``list`` table."""
    tz = entry_tz(entry, words.default_tz)
    due = timing.state_due_at(entry, state)
    late = overdue_by(entry, state, now, threshold)
    idle = "disabled" if not entry.enabled else "never"
    next_text = words.instant(due, tz) if due else idle
    return [
        printable(entry.name),
        words.schedule(entry),
        f"OVERDUE {next_text}" if late is not None else next_text,
        relative(state.last_run_at, now) if state.last_run_at else "never",
        outcome_words(run) if run is not None else "-",
        str(state.total_run_count),
        "yes" if entry.enabled else "no",
        "static" if entry.static else "dynamic",
        shorten(state.last_error),
        shorten(entry.description) if entry.description else "",
    ]


def _unreadable_cells(error: CorruptRecord, now: datetime) -> list[str]:
    """An unreadable record's row of the ``list`` table."""
    since = f" since {relative(error.since, now)}" if error.since else ""
    name = printable(error.name)
    return [name, f"UNREADABLE{since}", "-", "-", "-", "-", "-", "-", shorten(error.cause), ""]


def _unreadable_json(error: CorruptRecord) -> dict[str, Any]:
    """An unreadable record as ``list --json`` shows it."""
    since = isoformat(error.since)
    return {"name": error.name, "readable": False, "error": error.cause, "since": since}


def _warn_unreadable(errors: list[CorruptRecord]) -> None:
    for error in errors:
        click.echo(f"warning: {error}", err=True)


def occurrences(
    entry: Entry, state: EntryState, count: int, default_tz: str
) -> list[tuple[datetime, datetime]]:
    """Return up to ``count`` coming (occurrence, due-with-jitter) pairs of the entry.

    Starts at the stored next run and respects ``end_at`` and the runs ``max_runs`` leaves.
    """
    if entry.max_runs is not None:
        count = min(count, max(entry.max_runs - state.total_run_count, 0))
    found: list[tuple[datetime, datetime]] = []
    occurrence = state.next_run_at
    while occurrence is not None and len(found) < count:
        found.append((occurrence, timing.due_at(entry, occurrence)))
        occurrence = timing.occurrence_after(entry, occurrence, default_tz)
    return found


@click.command("show")
@click.argument("name")
@click.option("--next", "next_count", type=click.IntRange(0, 1000), default=5, show_default=True,
              help="How many coming runs to list.")  # fmt: skip
@click.option("--runs", "runs_count", type=click.IntRange(0, 1000), default=5,
              show_default=True, help="How many of the last runs to list.")  # fmt: skip
@click.option("--changes", "changes_count", type=click.IntRange(0, 1000), default=5,
              show_default=True, help="How many of the last changes to list.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def show(
    session: Session,
    name: str,
    next_count: int,
    runs_count: int,
    changes_count: int,
    as_json: bool,
) -> None:
    """Show the whole entry NAME, its state, its next runs, its last runs and its last
    changes (for a disabled entry: who disabled it, when and why)."""
    store = session.existing_store
    entry = store.get(name)
    state = store.state(name)
    coming = occurrences(entry, state, next_count, session.default_tz)
    last_runs = store.history(name, runs_count) if runs_count else []
    log = store.changes(name, max(changes_count, store.change_log_size))
    paused = None if entry.enabled else pause_of(log)
    if as_json:
        data = entry_json(session, entry, state)
        data["next_runs"] = [isoformat(due) for _, due in coming]
        data["last_runs"] = [run_report_json(run) for run in last_runs]
        data["last_changes"] = [change_json(change) for change in log[:changes_count]]
        data["disabled_by"] = None if paused is None else change_json(paused)
        echo_json(data)
        return
    now = session.now()
    tz = entry_tz(entry, session.default_tz)
    schedule_fields = ", ".join(f"{k}={v!r}" for k, v in entry.schedule.to_dict().items())
    lines = [
        ("name", printable(entry.name)),
        ("task", printable(entry.task)),
        ("description", printable(entry.description) if entry.description else "-"),
        ("schedule", describe_schedule(entry, session.default_tz)),
        ("", f"{entry.schedule.type_name}: {schedule_fields}"),
        ("args", json.dumps(list(entry.args))),
        ("kwargs", json.dumps(entry.kwargs, sort_keys=True)),
        ("options", json.dumps(entry.options, sort_keys=True)),
        ("enabled", "yes" if entry.enabled else _disabled_text(paused, tz)),
        ("kind", "static (from beat_schedule)" if entry.static else "dynamic"),
        ("time zone", f"{entry.tz}" if entry.tz else f"{session.default_tz} (app default)"),
        ("start", format_instant(entry.start_at, tz)),
        ("end", format_instant(entry.end_at, tz)),
        ("max runs", str(entry.max_runs) if entry.max_runs is not None else "-"),
        ("catch up", entry.catch_up),
        ("misfire grace", f"{entry.misfire_grace:g} s" if entry.misfire_grace is not None else "-"),
        ("jitter", f"{entry.jitter:g} s" if entry.jitter else "-"),
        ("next run", when(state.next_run_at, tz, now)),
        ("triggered", when(state.triggered_at, tz, now)),
        ("last run", when(state.last_run_at, tz, now)),
        ("runs", str(state.total_run_count)),
        ("skipped", str(state.skipped_run_count)),
        ("last task id", state.last_task_id or "-"),
        ("last error", state.last_error or "-"),
    ]
    width = max(len(label) for label, _ in lines) + 2
    for label, value in lines:
        click.echo(f"{label + ':' if label else '':<{width}}{value}")
    if next_count:
        if not entry.enabled:
            click.echo(f"next {next_count} runs: none while disabled; when enabled:")
        else:
            click.echo(f"next {next_count} runs:")
        if not coming:
            click.echo("  none (the schedule has no occurrence left)")
        for occurrence, due in coming:
            extra = (
                f", jitter +{(due - occurrence).total_seconds():.1f} s" if due != occurrence else ""
            )
            click.echo(f"  {format_instant(due, tz)} ({relative(due, now)}{extra})")
    if runs_count:
        click.echo(f"last {runs_count} runs (newest first):")
        for line in run_lines(last_runs, tz, now):
            click.echo(line.rstrip())
    if changes_count:
        click.echo(f"last {changes_count} changes (newest first):")
        for line in change_lines(log[:changes_count], tz):
            click.echo(line)


def _disabled_text(paused: Change | None, tz: tzinfo) -> str:
    """``no (disabled by ada@ops1 at ...: why)``, as far as the change log says."""
    if paused is None:
        return "no"
    how = "" if paused.action == "disable" else f" ({what_changed(paused)})"
    who = printable(paused.by) if paused.by else "someone"
    why = f": {printable(paused.reason)}" if paused.reason else ""
    return f"no (disabled by {who} at {format_instant(paused.at, tz)}{how}{why})"
