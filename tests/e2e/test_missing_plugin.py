"""An entry whose schedule type beat lacks is loud, and comes back when the plugin does.

The schedule-type plugin (tests/thirdparty) is installed where the CLI runs but not where the
first real ``celery beat`` runs: beat takes the entry out as unreadable, and ``celery beatcore
list`` and ``status`` (real processes) say so, with a failing health check. Beat restarted
with the plugin revives the entry at its start and runs it; the health check passes again.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .processes import beat_command, celery_command, project_env, running, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

THIRD_PARTY = Path(__file__).resolve().parents[1] / "thirdparty"
PLUGIN = "beatcore_weekly_example"
EXPORT = {
    "format": "beatcore-export",
    "version": 1,
    "entries": [
        {
            "entry": {
                "v": 1,
                "name": "every-2nd-second",
                "task": "proj.hello",
                "args": ["from a plugin"],
                "schedule": {"type": "example.every_nth_second", "n": 2},
            }
        }
    ],
}


def with_plugin(env: dict[str, str]) -> dict[str, str]:
    path = os.pathsep.join([str(THIRD_PARTY), env["PYTHONPATH"]])
    return {**env, "PYTHONPATH": path, "PROJ_PLUGINS": PLUGIN}


def beatcore(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        celery_command("beatcore", "-s", "var/cbs", *args),
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def listed(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = beatcore(env, cwd, "list", "--json")
    assert result.returncode == 0, result.stderr
    return {item["name"]: item for item in json.loads(result.stdout)}


def test_entry_of_a_missing_plugin_is_unreadable_then_revived(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "var").mkdir(parents=True)
    bare = project_env(tmp_path, PROJ_INTERVAL="1")
    cli = with_plugin(bare)
    export = tmp_path / "plugin-entry.json"
    export.write_text(json.dumps(EXPORT))
    first_log, second_log = tmp_path / "beat-without.log", tmp_path / "beat-with.log"

    with running(beat_command(Path("var/cbs")), bare, first_log, cwd=work):
        wait_for(lambda: beatcore(cli, work, "status").returncode == 0, 60,
                 "the first beat to tick", [first_log])  # fmt: skip
        imported = beatcore(cli, work, "import", str(export))
        assert imported.returncode == 0, imported.stdout + imported.stderr

        def unreadable() -> bool:
            return listed(cli, work)["every-2nd-second"].get("readable") is False

        wait_for(unreadable, 60, "beat to take the entry out as unreadable", [first_log])
        status = beatcore(cli, work, "status")
        assert status.returncode == 1, status.stdout
        assert "entries:       3 (1 unreadable)" in status.stdout
        assert "  unreadable 'every-2nd-second' (since " in status.stdout
        assert "unknown schedule type 'example.every_nth_second'" in status.stdout
        assert "FAIL: 1 entry cannot be read, so beat never runs it" in status.stdout
        table = beatcore(cli, work, "list").stdout
        assert any(
            line.startswith("every-2nd-second") and "UNREADABLE" in line
            for line in table.splitlines()
        ), table

    with running(beat_command(Path("var/cbs")), cli, second_log, cwd=work):

        def ran() -> bool:
            entry = listed(cli, work)["every-2nd-second"]
            return bool(entry.get("readable")) and entry["state"]["total_run_count"] >= 1

        wait_for(ran, 60, "the restarted beat to run the revived entry", [second_log])
        wait_for(lambda: beatcore(cli, work, "status").returncode == 0, 60,
                 "the health check to pass again", [second_log])  # fmt: skip
    assert "1 entry is readable again and back in the schedule: 'every-2nd-second'" in (
        second_log.read_text()
    )
