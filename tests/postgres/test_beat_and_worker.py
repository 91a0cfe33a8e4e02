"""Real ``celery beat`` and ``celery worker`` processes on a ``postgresql://`` store."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from celery import Celery

import beatcore
from beatcore.entry import Entry
from beatcore.schedules import Interval
from tests.e2e.processes import (
    beat_command,
    is_deterministic_task_id,
    project_env,
    running,
    runs,
    stop,
    wait_for,
    worker_command,
)
from tests.postgres.support import new_schema
from tests.support.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e


def test_beat_sends_static_and_dynamic_entries_to_the_worker(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = f"{postgres_server.url}?schema={new_schema()}"
    env = project_env(tmp_path, PROJ_BEATCORE_URL=url, PROJ_INTERVAL="1")
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    with (
        running(worker_command(), env, worker_log),
        running(beat_command(tmp_path / "celerybeat-schedule"), env, beat_log) as beat,
    ):

        def counts() -> Counter[str]:
            return Counter(run["task"] for run in runs(tmp_path))

        wait_for(
            lambda: counts()["proj.hello"] >= 3 and counts()["proj.add"] >= 3,
            90,
            "three runs of each static entry",
            [beat_log, worker_log],
        )
        # a dynamic entry added from another process while beat runs
        app = Celery("client", set_as_current=False)
        app.conf.beatcore_url = url
        store = beatcore.connect(app)
        try:
            store.save(Entry(name="dynamic", task="proj.add", schedule=Interval(1), args=(40, 2)))
            before = counts()["proj.add"]
            wait_for(
                lambda: counts()["proj.add"] >= before + 4,
                60,
                "the dynamic entry's runs",
                [beat_log, worker_log],
            )
            assert store.state("dynamic").total_run_count >= 1
        finally:
            store.close()
        assert stop(beat) == 0

    beat_text = beat_log.read_text()
    masked = url.replace(postgres_server.password, "****")
    assert f"now leads {masked}" in beat_text
    assert "released leadership" in beat_text
    assert postgres_server.password not in beat_text
    ids = [run["id"] for run in runs(tmp_path)]
    assert len(ids) == len(set(ids))
    assert all(is_deterministic_task_id(task_id) for task_id in ids)


def test_beat_rides_out_a_server_restart_without_duplicates(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """An immediate (crash) restart of PostgreSQL while beat leads: beat logs the outage,
    goes on ticking, and sends on afterwards; no occurrence is sent twice."""
    url = f"{postgres_server.url}?schema={new_schema()}"
    env = project_env(tmp_path, PROJ_BEATCORE_URL=url, PROJ_INTERVAL="1")
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    with (
        running(worker_command(), env, worker_log),
        running(beat_command(tmp_path / "celerybeat-schedule"), env, beat_log) as beat,
    ):

        def hellos() -> int:
            return sum(1 for run in runs(tmp_path) if run["task"] == "proj.hello")

        wait_for(lambda: hellos() >= 2, 90, "runs before the restart", [beat_log, worker_log])
        postgres_server.stop_server()
        wait_for(
            lambda: "unreachable" in beat_log.read_text(errors="replace"),
            60,
            "beat to notice the outage",
            [beat_log],
        )
        postgres_server.start()
        before = hellos()
        wait_for(
            lambda: hellos() >= before + 3, 90, "runs after the restart", [beat_log, worker_log]
        )
        assert beat.poll() is None, "beat ended during the outage"
        assert stop(beat) == 0
    ids = [run["id"] for run in runs(tmp_path)]
    assert len(ids) == len(set(ids)), "an occurrence was sent twice"
    assert postgres_server.password not in beat_log.read_text()
