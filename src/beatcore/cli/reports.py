"""The verbs that only read: ``list``, ``show`` and ``status`` (the health check)."""

from __future__ import annotations

import fnmatch
import json
from datetime import datetime
from typing import Any

import click

from beatcore import timing
from beatcore.cli.describe import (
    describe_schedule,
    entry_tz,
    format_instant,
    relative,
    shorten,
    table,
    when,
)
from beatcore.cli.session import Session, pass_session
from beatcore.entry import Entry, EntryState
from beatcore.serializer import entry_to_dict, state_to_dict
from beatcore.store import LockInfo, StoreStatus
from beatcore.timeutil import UTC, isoformat
from beatcore.urls import mask_password

#: Exit code of ``status`` when no leader ticked within the lock TTL (errors exit 1 as well).
UNHEALTHY = 1


def entry_json(session: Session, entry: Entry, state: EntryState) -> dict[str, Any]:
    """Return the ``--json`` form of one entry: its fields, schedule in words and state."""
    data = entry_to_dict(entry)
    data.pop("v", None)
    data["schedule_text"] = describe_schedule(entry, session.default_tz)
    state_data = state_to_dict(state)
    state_data.pop("v", None)
    data["state"] = state_data
    data["due_at"] = isoformat(timing.state_due_at(entry, state))
    return data


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _report_unreadable(session: Session) -> None:
    for error in session.existing_store.corrupt_records():
        click.echo(f"warning: {error}", err=True)


@click.command("list")
@click.argument("pattern", required=False)
@click.option("--enabled/--disabled", "enabled", default=None, help="Only enabled/disabled.")
@click.option("--static/--dynamic", "static", default=None, help="Only static/dynamic.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def list_entries(
    session: Session, pattern: str | None, enabled: bool | None, static: bool | None, as_json: bool
) -> None:
    """List entries, optionally only those whose name matches the glob PATTERN."""
    store = session.existing_store
    rows: list[tuple[Entry, EntryState]] = []
    for entry in store.entries():
        if pattern is not None and not fnmatch.fnmatchcase(entry.name, pattern):
            continue
        if enabled is not None and entry.enabled != enabled:
            continue
        if static is not None and entry.static != static:
            continue
        rows.append((entry, store.state(entry.name)))
    if as_json:
        _echo_json([entry_json(session, entry, state) for entry, state in rows])
        _report_unreadable(session)
        return
    now = session.now()
    cells = []
    for entry, state in rows:
        tz = entry_tz(entry, session.default_tz)
        due = timing.state_due_at(entry, state)
        cells.append(
            [
                entry.name,
                describe_schedule(entry, session.default_tz),
                when(due, tz, now) if due else ("disabled" if not entry.enabled else "never"),
                relative(state.last_run_at, now) if state.last_run_at else "never",
                str(state.total_run_count),
                "yes" if entry.enabled else "no",
                "static" if entry.static else "dynamic",
                shorten(state.last_error),
            ]
        )
    headers = ["NAME", "SCHEDULE", "NEXT RUN", "LAST RUN", "RUNS", "ENABLED", "KIND", "LAST ERROR"]
    click.echo(table(headers, cells) if cells else "no entries")
    _report_unreadable(session)


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def show(session: Session, name: str, next_count: int, as_json: bool) -> None:
    """Show the whole entry NAME, its state and its next runs."""
    store = session.existing_store
    entry = store.get(name)
    state = store.state(name)
    coming = occurrences(entry, state, next_count, session.default_tz)
    if as_json:
        data = entry_json(session, entry, state)
        data["next_runs"] = [isoformat(due) for _, due in coming]
        _echo_json(data)
        return
    now = session.now()
    tz = entry_tz(entry, session.default_tz)
    schedule_fields = ", ".join(f"{k}={v!r}" for k, v in entry.schedule.to_dict().items())
    lines = [
        ("name", entry.name),
        ("task", entry.task),
        ("schedule", describe_schedule(entry, session.default_tz)),
        ("", f"{entry.schedule.type_name}: {schedule_fields}"),
        ("args", json.dumps(list(entry.args))),
        ("kwargs", json.dumps(entry.kwargs, sort_keys=True)),
        ("options", json.dumps(entry.options, sort_keys=True)),
        ("enabled", "yes" if entry.enabled else "no"),
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


def _leader_text(leader: LockInfo | None, now: datetime) -> str:
    if leader is None:
        return "none"
    parts = leader.holder.split(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        who = f"{parts[0]} (pid {parts[1]}, started {parts[2]})"
    else:
        who = leader.holder
    since = f", since {when(leader.acquired_at, UTC, now)}" if leader.acquired_at else ""
    return f"{who}{since}"


def health(status: StoreStatus, now: datetime, lock_ttl: float) -> tuple[bool, str]:
    """Return (healthy, reason): healthy when a leader ticked within ``lock_ttl`` seconds."""
    if status.last_tick_at is None:
        return False, "no beat has ever ticked on this store"
    late = (now - status.last_tick_at).total_seconds()
    if late > lock_ttl:
        return False, (
            f"no leader ticked for {int(late)} s, more than the lock TTL of {lock_ttl:g} s"
        )
    return True, f"a leader ticked {int(max(late, 0))} s ago (lock TTL {lock_ttl:g} s)"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def status(session: Session, as_json: bool) -> None:
    """Show leader, last tick, entries and unacked runs; exit 1 if no leader ticked in time.

    Works as a health check: the exit code is 0 only when a leader ticked within
    beatcore_lock_ttl.
    """
    snapshot = session.existing_store.status()
    now = session.now()
    ttl = session.settings.lock_ttl
    healthy, reason = health(snapshot, now, ttl)
    url = mask_password(snapshot.url)
    if as_json:
        leader = snapshot.leader
        _echo_json(
            {
                "url": url,
                "healthy": healthy,
                "reason": reason,
                "leader": None
                if leader is None
                else {
                    "holder": leader.holder,
                    "token": leader.token,
                    "acquired_at": isoformat(leader.acquired_at),
                    "expires_at": isoformat(leader.expires_at),
                },
                "last_tick_at": isoformat(snapshot.last_tick_at),
                "entry_count": snapshot.entry_count,
                "corrupt_count": snapshot.corrupt_count,
                "next_due_at": isoformat(snapshot.next_due_at),
                "in_flight": [
                    {
                        "name": f.name,
                        "token": f.token,
                        "claimed_at": isoformat(f.claimed_at),
                        "next_run_at": isoformat(f.next_run_at),
                    }
                    for f in snapshot.in_flight
                ],
            }
        )
    else:
        token = str(snapshot.leader.token) if snapshot.leader else "-"
        expires = (
            f" (lease {relative(snapshot.leader.expires_at, now).replace('in ', 'ends in ')})"
            if snapshot.leader and snapshot.leader.expires_at
            else ""
        )
        lines = [
            ("store", url),
            ("leader", _leader_text(snapshot.leader, now)),
            ("fencing token", token + expires),
            (
                "last tick",
                when(snapshot.last_tick_at, UTC, now) if snapshot.last_tick_at else "never",
            ),
            ("entries", f"{snapshot.entry_count} ({snapshot.corrupt_count} unreadable)"),
            ("next due", _next_due_text(session, snapshot, now)),
            ("unacked", str(len(snapshot.in_flight)) if snapshot.in_flight else "none"),
        ]
        width = max(len(label) for label, _ in lines) + 2
        for label, value in lines:
            click.echo(f"{label + ':':<{width}}{value}")
        for flight in snapshot.in_flight:
            click.echo(
                f"  {flight.name}: run of {format_instant(flight.next_run_at, UTC)} claimed "
                f"{relative(flight.claimed_at, now)} under token {flight.token}"
            )
        click.echo(f"{'health:':<{width}}{'OK' if healthy else 'FAIL'}: {reason}")
    if not healthy:
        raise SystemExit(UNHEALTHY)


#: Above this many entries ``status`` shows the next due time without looking up its name, so a
#: frequent health check stays one cheap store call on a large schedule.
NAME_LOOKUP_LIMIT = 1000


def _next_due_text(session: Session, snapshot: StoreStatus, now: datetime) -> str:
    if snapshot.next_due_at is None:
        return "nothing scheduled"
    due = snapshot.next_due_at
    if snapshot.entry_count > NAME_LOOKUP_LIMIT:
        return when(due, UTC, now)
    names = []
    for entry in session.existing_store.entries():
        if timing.state_due_at(entry, session.existing_store.state(entry.name)) == due:
            names.append(entry.name)
    label = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{label or '?'} at {when(due, UTC, now)}"
