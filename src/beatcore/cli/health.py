"""``status``: the health check. Leader, last tick, unreadable and overdue entries, exit code.

Healthy means all of: a leader ticked within ``beatcore_lock_ttl``, no record is unreadable,
and no entry is overdue (its due time passed more than ``--overdue-after`` ago, default
``beatcore_missed_threshold``). The exit code says which (docs/cli.rst): 0 healthy, 1
unhealthy, 3 the store cannot be opened or did not answer within ``--timeout``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs
import click

from beatcore import timing
from beatcore.cli.describe import format_instant, relative, when
from beatcore.cli.exits import EXIT_UNHEALTHY
from beatcore.cli.options import DURATION
from beatcore.cli.reading import schedule_pages
from beatcore.cli.session import Session, echo_json, pass_session
from beatcore.errors import CorruptRecord, StoreUnavailable
from beatcore.store import InFlight, LockInfo, StoreStatus
from beatcore.timeutil import UTC, isoformat
from beatcore.urls import mask_password
from beatcore.values import printable

T = TypeVar("T")

#: Above this many entries ``status`` shows the next due time without looking up its name, so a
#: frequent health check stays one cheap store call on a large schedule.
NAME_LOOKUP_LIMIT = 1000
#: The most unreadable entries ``status`` names one by one (``list`` shows them all).
UNREADABLE_SHOWN = 10


@attrs.frozen
class Report:
    """What ``status`` found: the store's snapshot and what it reads of it."""

    snapshot: StoreStatus
    unreadable: tuple[CorruptRecord, ...]
    next_due_names: tuple[str, ...] | None


@attrs.frozen
class Verdict:
    """Whether the schedule is healthy, and every reason it is not (or why it is)."""

    healthy: bool
    reasons: tuple[str, ...]
    overdue_by: float | None


def health(
    status: StoreStatus,
    now: datetime,
    lock_ttl: float,
    *,
    overdue_after: float = 60.0,
    unreadable: Sequence[CorruptRecord] = (),
) -> Verdict:
    """Return the verdict on ``status`` at ``now``.

    Unhealthy when no leader ticked within ``lock_ttl`` seconds, when any record is
    unreadable (beat cannot run those entries), or when the earliest due entry is more than
    ``overdue_after`` seconds past due (no leader is sending it).
    """
    problems: list[str] = []
    if status.last_tick_at is None:
        problems.append("no beat has ever ticked on this store")
        ticked = None
    else:
        late = (now - status.last_tick_at).total_seconds()
        ticked = f"a leader ticked {int(max(late, 0))} s ago (lock TTL {lock_ttl:g} s)"
        if late > lock_ttl:
            problems.append(
                f"no leader ticked for {int(late)} s, more than the lock TTL of {lock_ttl:g} s"
            )
    count = max(len(unreadable), status.corrupt_count)
    if count:
        problems.append(
            f"{count} entr{'y' if count == 1 else 'ies'} cannot be read, so beat never runs "
            f"{'it' if count == 1 else 'them'}"
        )
    overdue = None
    if status.next_due_at is not None:
        late = (now - status.next_due_at).total_seconds()
        if late > overdue_after:
            overdue = late
            problems.append(
                f"the earliest due run is {int(late)} s overdue, more than {overdue_after:g} s"
            )
    if problems:
        return Verdict(False, tuple(problems), overdue)
    return Verdict(True, (ticked or "",), None)


def within(seconds: float, what: str, call: Callable[[], T]) -> T:
    """Return ``call()``, run in a thread given ``seconds`` to answer.

    :raises StoreUnavailable: it did not answer in time (``what`` names the store); the
        thread is left behind, a daemon, to end with the process.
    """
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["value"] = call()
        except BaseException as exc:
            done["error"] = exc

    worker = threading.Thread(target=run, name="beatcore-status", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise StoreUnavailable(f"store {what} did not answer within {seconds:g} s (--timeout)")
    if "error" in done:
        raise done["error"]
    return done["value"]  # type: ignore[no-any-return]


def _read(session: Session) -> Report:
    store = session.existing_store
    snapshot = store.status()
    if snapshot.entry_count > NAME_LOOKUP_LIMIT:
        noted = {error.name: error for error in store.unreadable_records()}
        if not snapshot.corrupt_count:
            return Report(snapshot, tuple(noted[name] for name in sorted(noted)), None)
    unreadable: list[CorruptRecord] = []
    names: list[str] = []
    for page in schedule_pages(store):  # one page held at a time, not the schedule
        for item in page:
            if isinstance(item, CorruptRecord):
                unreadable.append(item)
            elif (
                snapshot.next_due_at is not None
                and timing.state_due_at(*item) == snapshot.next_due_at
            ):
                names.append(item[0].name)
    return Report(snapshot, tuple(unreadable), tuple(names))


@click.command("status")
@click.option("--overdue-after", type=DURATION, help="An entry this late is overdue "
              "(default: beatcore_missed_threshold).")  # fmt: skip
@click.option("--timeout", type=DURATION, default=10.0, show_default=True,
              help="Give up (exit 3) when the store has not answered in this time.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def status(session: Session, overdue_after: float | None, timeout: float, as_json: bool) -> None:
    """Show leader, last tick, unreadable and overdue entries; the exit code is the verdict.

    0: a leader ticked within beatcore_lock_ttl, every entry is readable and none is overdue;
    1: not so; 3: the store is not there or did not answer within --timeout.
    """
    try:
        report = within(timeout, mask_password(session.settings.url), lambda: _read(session))
    except StoreUnavailable:
        session.abandon()
        raise
    now = session.now()
    threshold = session.settings.missed_threshold if overdue_after is None else overdue_after
    snapshot = report.snapshot
    verdict = health(
        snapshot, now, session.settings.lock_ttl, overdue_after=threshold,
        unreadable=report.unreadable,
    )  # fmt: skip
    if as_json:
        echo_json(_json(snapshot, report, verdict, threshold))
    else:
        _print(snapshot, report, verdict, now)
    if not verdict.healthy:
        raise SystemExit(EXIT_UNHEALTHY)


def _json(snapshot: StoreStatus, report: Report, verdict: Verdict, threshold: float) -> Any:
    leader = snapshot.leader
    return {
        "url": mask_password(snapshot.url),
        "healthy": verdict.healthy,
        "reason": "; ".join(verdict.reasons),
        "reasons": list(verdict.reasons),
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
        "corrupt_count": max(snapshot.corrupt_count, len(report.unreadable)),
        "unreadable": [unreadable_json(e) for e in report.unreadable],
        "next_due_at": isoformat(snapshot.next_due_at),
        "next_due_names": None if report.next_due_names is None else list(report.next_due_names),
        "overdue_after": threshold,
        "overdue_by": verdict.overdue_by,
        "in_flight": [in_flight_json(f) for f in snapshot.in_flight],
    }


def unreadable_json(error: CorruptRecord) -> dict[str, Any]:
    """An unreadable record as ``status --json`` (and the web health panel) show it."""
    return {"name": error.name, "error": error.cause, "since": isoformat(error.since)}


def in_flight_json(claim: InFlight) -> dict[str, Any]:
    """A claim not acked yet as ``status --json`` (and the web health panel) show it."""
    return {
        "name": claim.name,
        "token": claim.token,
        "claimed_at": isoformat(claim.claimed_at),
        "next_run_at": isoformat(claim.next_run_at),
    }


def _print(snapshot: StoreStatus, report: Report, verdict: Verdict, now: datetime) -> None:
    token = str(snapshot.leader.token) if snapshot.leader else "-"
    expires = (
        f" (lease {relative(snapshot.leader.expires_at, now).replace('in ', 'ends in ')})"
        if snapshot.leader and snapshot.leader.expires_at
        else ""
    )
    corrupt = max(snapshot.corrupt_count, len(report.unreadable))
    lines = [
        ("store", mask_password(snapshot.url)),
        ("leader", _leader_text(snapshot.leader, now)),
        ("fencing token", token + expires),
        ("last tick", when(snapshot.last_tick_at, UTC, now) if snapshot.last_tick_at else "never"),
        ("entries", f"{snapshot.entry_count} ({corrupt} unreadable)"),
        ("next due", _next_due_text(snapshot, report, now)),
        ("unacked", str(len(snapshot.in_flight)) if snapshot.in_flight else "none"),
    ]
    width = max(len(label) for label, _ in lines) + 2
    for label, value in lines:
        click.echo(f"{label + ':':<{width}}{value}")
        if label == "entries":
            for error in report.unreadable[:UNREADABLE_SHOWN]:
                since = f" (since {when(error.since, UTC, now)})" if error.since else ""
                click.echo(f"  unreadable {error.name!r}{since}: {error.cause}")
            if len(report.unreadable) > UNREADABLE_SHOWN:
                click.echo(f"  and {len(report.unreadable) - UNREADABLE_SHOWN} more (see list)")
    for flight in snapshot.in_flight:
        click.echo(
            f"  {printable(flight.name)}: run of {format_instant(flight.next_run_at, UTC)} claimed "
            f"{relative(flight.claimed_at, now)} under token {flight.token}"
        )
    click.echo(f"{'health:':<{width}}{'OK' if verdict.healthy else 'FAIL'}: "
               f"{'; '.join(verdict.reasons)}")  # fmt: skip


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


def _next_due_text(snapshot: StoreStatus, report: Report, now: datetime) -> str:
    if snapshot.next_due_at is None:
        return "nothing scheduled"
    due = when(snapshot.next_due_at, UTC, now)
    names = report.next_due_names
    if names is None:
        return due
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    label = ", ".join(map(printable, names[:3])) + more
    return f"{label or '?'} at {due}"
