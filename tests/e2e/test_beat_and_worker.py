"""A real ``celery beat -S beatcore.Scheduler`` dispatching to a real ``celery worker``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .processes import (
    beat_command,
    is_deterministic_task_id,
    project_env,
    running,
    runs,
    stop,
    wait_for,
    worker_command,
)

pytestmark = pytest.mark.e2e


def test_static_interval_entries_run_on_the_worker(tmp_path: Path, redis_server: Any) -> None:
    env = project_env(
        tmp_path,
        PROJ_BROKER_URL=redis_server.url,
        PROJ_BEATCORE_URL="memory://e2e",
        PROJ_INTERVAL="1",
    )
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker_cmd = worker_command()
    beat_cmd = beat_command(tmp_path / "celerybeat-schedule")
    with running(worker_cmd, env, worker_log), running(beat_cmd, env, beat_log) as beat:

        def enough() -> bool:
            counts = Counter(run["task"] for run in runs(tmp_path))
            return counts["proj.hello"] >= 3 and counts["proj.add"] >= 3

        wait_for(enough, 60, "three runs of each static entry", [beat_log, worker_log])
        assert stop(beat) == 0

    beat_text = beat_log.read_text()
    assert "store -> memory://e2e" in beat_text
    assert "now leads memory://e2e" in beat_text
    assert "released leadership" in beat_text
    ids = [run["id"] for run in runs(tmp_path)]
    assert len(ids) == len(set(ids))
    assert all(is_deterministic_task_id(task_id) for task_id in ids)
    assert "succeeded in" in worker_log.read_text()
