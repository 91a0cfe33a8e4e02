"""``python -m bench.track_runs``: what run tracking (``beatcore_track_runs``) costs a worker.

Runs a no-op task ``--tasks`` times through Celery's own tracer (``Task.apply``: the same
signals as in a worker, without a broker) in three ways and prints, as JSON:

- **off**: the setting off, so no handler is connected (the baseline; ``off_plain`` for the
  same tasks without beat's headers);
- **untracked**: tracking on, tasks not sent by beat (no beatcore headers: never touched),
  against ``off_plain``;
- **tracked**: tracking on, tasks carrying beat's headers, each one's record written first
  as beat's ack writes it.

For each: microseconds per task (the fastest of ``--repeats`` rounds), store round trips per
task start and per task end (``record_outcome`` calls, and on SQLite the transactions they
opened), and the ratio to **off**. The budget: one round trip per start and one per end, and
nothing at all when the setting is off.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery, signals

from beatcore import Entry, Interval, connect, timing, tracking
from beatcore.publisher import ENTRY_HEADER, OCCURRENCE_HEADER
from beatcore.store import Ack, RunOutcome, RunRecord, Store
from beatcore.timeutil import utc_now


class CountingStore:
    """Counts ``record_outcome`` calls by status (each is one round trip at most)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: dict[str, int] = {}

    def record_outcome(self, outcome: RunOutcome) -> None:
        self.calls[outcome.status] = self.calls.get(outcome.status, 0) + 1
        self.store.record_outcome(outcome)

    @property
    def url(self) -> str:
        return self.store.url

    def close(self) -> None:
        """Closed by the benchmark itself."""


def _app(url: str) -> Celery:
    app = Celery(f"track-runs-{uuid.uuid4().hex[:8]}", broker="memory://", set_as_current=False)
    app.conf.update(beatcore_url=url, beatcore_track_runs=True, timezone="UTC")

    @app.task(name="bench.noop", shared=False)  # type: ignore[untyped-decorator]
    def noop() -> None:
        return None

    return app


def _sent(store: Store, tasks: int) -> list[tuple[str, Any, str]]:
    """Save ``tasks`` entries and write beat's record of one occurrence of each, as an ack
    does; return (entry, occurrence, task id) of each."""
    for i in range(tasks):
        store.save(Entry(name=f"e{i:05d}", task="bench.noop", schedule=Interval(60)))
    now = utc_now()
    lease = store.lock.acquire("bench:1", 3600)
    assert lease is not None
    claims = store.claim_due(lease, now + timedelta(hours=1), limit=tasks, reclaim_after=3600)
    assert len(claims.claims) == tasks, "every entry is due an hour later"
    runs: list[tuple[str, Any, str]] = []
    acks = []
    for claim in claims.claims:
        occurrence = claim.state.next_run_at
        assert occurrence is not None
        task_id = timing.task_id(claim.entry.name, occurrence)
        record = RunRecord(occurrence, task_id, "sent", sent_at=now, lateness=0.0)
        acks.append(Ack(claim.entry.name, claim.state, claim.state, None, runs=(record,)))
        runs.append((claim.entry.name, occurrence, task_id))
    store.ack(lease, acks)
    return runs


@contextmanager
def _transactions(store: Store) -> Iterator[list[str]]:
    """The transactions a SQLite store opens meanwhile (empty for other stores)."""
    begins: list[str] = []
    conn = getattr(getattr(store, "_db", None), "_conn", None)
    if conn is not None:
        conn.set_trace_callback(lambda sql: begins.append(sql) if sql.startswith("BEGIN") else None)
    try:
        yield begins
    finally:
        if conn is not None:
            conn.set_trace_callback(None)


def _round(app: Celery, runs: list[tuple[str, Any, str]], beat: bool) -> float:
    task = app.tasks["bench.noop"]
    start = time.perf_counter()
    for name, occurrence, task_id in runs:
        headers = {ENTRY_HEADER: name, OCCURRENCE_HEADER: occurrence.isoformat()} if beat else None
        task.apply((), task_id=task_id, headers=headers)
    return time.perf_counter() - start


def measure(tasks: int = 1000, repeats: int = 3, url: str | None = None) -> dict[str, Any]:
    """Return the cost of tracking per task, off, untracked and tracked (see the module)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite:///{Path(tmp) / 'track.sqlite3'}"
        app = _app(url)
        store = connect(app)
        counting = CountingStore(store)
        try:
            runs = _sent(store, tasks)
            handlers_off = len(signals.task_prerun.receivers)
            off = min(_round(app, runs, beat=True) for _ in range(repeats))
            off_plain = min(_round(app, runs, beat=False) for _ in range(repeats))
            tracker = tracking.Tracker(app, open_store=lambda: counting)  # type: ignore[arg-type,return-value]
            tracker.connect()
            try:
                untracked = min(_round(app, runs, beat=False) for _ in range(repeats))
                untracked_calls = dict(counting.calls)
                with _transactions(store) as begins:
                    tracked = min(_round(app, runs, beat=True) for _ in range(repeats))
            finally:
                tracker.disconnect()
            history = store.history(runs[0][0]) if runs else []
        finally:
            store.close()
    done = tasks * repeats
    starts, ends = counting.calls.get("started", 0), counting.calls.get("succeeded", 0)
    return {
        "store": url.split("://")[0],
        "tasks": tasks,
        "repeats": repeats,
        "load": os.getloadavg()[0],
        "handlers_connected_when_off": handlers_off,
        "off_us_per_task": round(off / tasks * 1e6, 1),
        "off_plain_us_per_task": round(off_plain / tasks * 1e6, 1),
        "untracked_us_per_task": round(untracked / tasks * 1e6, 1),
        "tracked_us_per_task": round(tracked / tasks * 1e6, 1),
        "untracked_ratio": round(untracked / off_plain, 2),
        "tracked_ratio": round(tracked / off, 2),
        "round_trips_untracked": sum(untracked_calls.values()),
        "round_trips_per_start": starts / done if done else 0.0,
        "round_trips_per_end": ends / done if done else 0.0,
        "transactions_per_report": (len(begins) / (starts + ends)) if begins else None,
        "last_status": history[0].status if history else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Print the measurement as JSON; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.track_runs", description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--url", help="the store (default: a SQLite file in a temp folder)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.tasks, args.repeats, args.url), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
