"""An entry saved through ``beatcore.connect(url)`` in another process runs on a running beat.

A real ``celery beat -S beatcore.Scheduler`` and a real worker run on a real redis-server (the
Redis store and the broker); a separate Python process saves a dynamic entry and prints the
first occurrence the store gave it. The worker must then run exactly that occurrence, with the
task id beatcore derives from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from beatcore.timing import task_id

from .processes import (
    beat_command,
    project_env,
    running,
    runs,
    wait_for,
    worker_command,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

STORE_DB = 3

SAVE_FROM_ANOTHER_PROCESS = textwrap.dedent(
    """
    import json, sys
    import beatcore
    from beatcore import Entry, Interval

    store = beatcore.connect(sys.argv[1])
    try:
        state = store.save(Entry(name="added-later", task="proj.hello",
                                 schedule=Interval(2), args=("from elsewhere",)))
    finally:
        store.close()
    print(json.dumps({"next_run_at": state.next_run_at.isoformat()}))
    """
)


def test_entry_saved_by_another_process_runs_on_the_running_beat(
    tmp_path: Path, redis_db: Any
) -> None:
    redis_server = redis_db  # emptied: no queued task or store key left by another test
    store_url = redis_server.url_for(STORE_DB)
    env = project_env(
        tmp_path, PROJ_BROKER_URL=redis_server.url, PROJ_BEATCORE_URL=store_url,
        PROJ_INTERVAL="1",
    )  # fmt: skip
    logs = {name: tmp_path / f"{name}.log" for name in ("beat", "worker")}
    worker_cmd = worker_command()
    beat_cmd = beat_command(tmp_path / "celerybeat-schedule")
    all_logs = list(logs.values())
    with running(worker_cmd, env, logs["worker"]), running(beat_cmd, env, logs["beat"]):
        # The beat is up and leading once the static entries run.
        wait_for(lambda: len(runs(tmp_path)) >= 2, 60, "the static entries to run", all_logs)

        saved = subprocess.run(
            [sys.executable, "-c", SAVE_FROM_ANOTHER_PROCESS, store_url],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert saved.returncode == 0, saved.stdout + saved.stderr
        first = datetime.fromisoformat(json.loads(saved.stdout.splitlines()[-1])["next_run_at"])
        expected_id = task_id("added-later", first)

        wait_for(
            lambda: expected_id in {run["id"] for run in runs(tmp_path)},
            60,
            f"the first occurrence of the new entry ({first.isoformat()})",
            all_logs,
        )

    beat_text = logs["beat"].read_text(errors="replace")
    assert f"Sending due task added-later (proj.hello) for {first.isoformat()}" in beat_text
    ids = [run["id"] for run in runs(tmp_path)]
    assert len(ids) == len(set(ids)), "a task ran twice"
