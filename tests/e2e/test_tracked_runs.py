"""Run tracking and the overlap policies with a real ``celery beat`` and a real prefork
``celery worker`` (three processes) on a Redis broker and one SQLite schedule file: tasks
slower than their period, the outcomes the worker reported, in the entries' run history."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest

from beatcore.errors import EntryNotFound
from beatcore.store import RunRecord
from beatcore.stores.sqlite import SqliteStore

from .processes import celery_command, project_env, running, stop, wait_for

pytestmark = pytest.mark.e2e

PROJECT = """
import os
import time

from celery import Celery

app = Celery("tracked", broker=os.environ["TRACKED_BROKER"])
app.conf.update(
    timezone="UTC",
    beatcore_url=os.environ["TRACKED_STORE"],
    beatcore_track_runs=True,
    broker_connection_retry_on_startup=True,
    beat_schedule={
        # each run takes 2.5 s, one is due every second
        "slow-skip": {"task": "tracked.slow", "schedule": 1.0, "overlap": "skip"},
        "slow-buffer": {"task": "tracked.slow", "schedule": 1.0, "overlap": "buffer_one"},
        "boom": {"task": "tracked.boom", "schedule": 1.0, "overlap": "skip"},
    },
)


@app.task(name="tracked.slow")
def slow():
    time.sleep(2.5)


@app.task(name="tracked.boom")
def boom():
    raise ValueError("boom at postgresql://user:hunter2@db/prod")
"""


def ended_runs(store: SqliteStore, name: str) -> list[RunRecord]:
    """The runs of ``name`` the worker reported ended, oldest first (none while beat's
    static sync has not yet written the entry: the store's file exists before it does)."""
    try:
        history = store.history(name)
    except EntryNotFound:
        return []
    return [r for r in reversed(history) if r.finished]


def test_slow_runs_are_skipped_or_buffered_and_their_outcomes_recorded(
    tmp_path: Path, redis_db: Any
) -> None:
    (tmp_path / "tracked.py").write_text(textwrap.dedent(PROJECT))
    store_path = tmp_path / "schedule.sqlite3"
    env = project_env(
        tmp_path, TRACKED_BROKER=redis_db.url, TRACKED_STORE=f"sqlite:///{store_path}"
    )
    worker_cmd = [
        *celery_command("worker", "--pool=prefork", "--concurrency=3", "--loglevel=INFO",
                        "--without-heartbeat", "--without-mingle", "--without-gossip"),
    ]  # fmt: skip
    beat_cmd = celery_command(
        "beat", "-S", "beatcore.Scheduler", "--loglevel=INFO",
        "--schedule", str(tmp_path / "celerybeat-schedule"),
    )  # fmt: skip
    worker_cmd[worker_cmd.index("proj")] = "tracked"
    beat_cmd[beat_cmd.index("proj")] = "tracked"
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    logs = [beat_log, worker_log]
    with (
        running(worker_cmd, env, worker_log, cwd=tmp_path),
        running(beat_cmd, env, beat_log, cwd=tmp_path) as beat,
    ):
        wait_for(store_path.exists, 60, "beat's store", logs)
        store = SqliteStore(store_path)
        try:

            def enough() -> bool:
                return (
                    len(ended_runs(store, "slow-skip")) >= 3
                    and len(ended_runs(store, "slow-buffer")) >= 3
                    and len(ended_runs(store, "boom")) >= 2
                )

            wait_for(enough, 90, "three ended runs of each slow entry", logs)
            assert stop(beat) == 0
            skip, buffer, boom = (
                list(reversed(store.history(name))) for name in ("slow-skip", "slow-buffer", "boom")
            )
        finally:
            store.close()

    for name, history in (("slow-skip", skip), ("slow-buffer", buffer)):
        sent = [r for r in history if r.outcome == "sent" and r.finished]
        assert all(r.status == "succeeded" for r in sent), name
        assert all(r.runtime is not None and r.runtime >= 2.5 for r in sent), name
        assert all(r.worker for r in sent), name
        for earlier, later in itertools.pairwise(sent):
            # one run at a time: each starts after the one before it ended
            assert later.started_at is not None and earlier.finished_at is not None
            assert later.started_at >= earlier.finished_at, (name, earlier, later)
    skipped = [r for r in skip if r.outcome == "skipped"]
    assert skipped and all("still running, overlap=skip" in (r.detail or "") for r in skipped)
    waited = [r for r in buffer if r.outcome == "skipped"]
    assert waited and all("already waiting" in (r.detail or "") for r in waited)
    # buffer_one: the held occurrence went out once the run before it ended, late by it
    released = [r for r in buffer if r.outcome == "sent" and r.lateness and r.lateness > 1]
    assert released, buffer
    failed = [r for r in boom if r.finished]
    assert all(r.status == "failed" for r in failed)
    assert all(r.error == "ValueError: boom at postgresql://user:****@db/prod" for r in failed)
    assert f"reporting the runs beat sent to sqlite:///{store_path}" in worker_log.read_text()
