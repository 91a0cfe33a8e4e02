"""``celery beatcore`` looks where ``celery beat`` keeps its store, and looking creates nothing.

A real ``celery beat -s var/cbs`` keeps its SQLite store beside ``var/cbs``; the real ``celery
beatcore -s var/cbs`` reads the same one. Without ``-s`` (or in another directory) the CLI
looks elsewhere: the read-only verbs then fail with exit 3 naming the file looked at, and leave
no file behind.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .processes import beat_command, celery_command, project_env, running, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

STORE_NOT_FOUND = 3


def beatcore(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        celery_command("beatcore", *args),
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_cli_with_the_schedule_of_beat_reads_beats_store(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "var").mkdir(parents=True)
    env = project_env(tmp_path, PROJ_INTERVAL="1")
    store_file = work / "var" / "cbs.beatcore.sqlite3"
    beat = beat_command(Path("var/cbs"))

    with running(beat, env, tmp_path / "beat.log", cwd=work):

        def listed() -> bool:
            result = beatcore(env, work, "-s", "var/cbs", "list", "--json")
            return result.returncode == 0 and len(json.loads(result.stdout)) == 2

        wait_for(listed, 60, "the CLI to list beat's two entries", [tmp_path / "beat.log"])
        listing = beatcore(env, work, "-s", "var/cbs", "list", "--json")
        names = [entry["name"] for entry in json.loads(listing.stdout)]
        assert names == ["add-every-few-seconds", "hello-every-few-seconds"]

        def healthy() -> bool:
            return beatcore(env, work, "-s", "var/cbs", "status").returncode == 0

        wait_for(healthy, 60, "status to report beat healthy", [tmp_path / "beat.log"])
        by_url = beatcore(env, tmp_path, "--url", f"sqlite:///{store_file}", "status")
        assert by_url.returncode == 0, by_url.stdout + by_url.stderr

        # Without -s the CLI looks beside the app's beat_schedule_filename: not beat's store.
        default_file = tmp_path / "var" / "celerybeat-schedule.beatcore.sqlite3"
        for verb in (["list"], ["list", "--json"], ["status"], ["show", "x"], ["export"]):
            result = beatcore(env, work, *verb)
            assert result.returncode == STORE_NOT_FOUND, (verb, result.stdout, result.stderr)
            assert result.stderr.startswith(
                f"Error: no beatcore store at sqlite:///{default_file}: file {default_file} "
                "does not exist (beat creates it at its first start; if beat runs with "
                "-s/--schedule or in another directory, give 'beatcore' the same -s, or --url)"
            ), result.stderr
            assert "Traceback" not in result.stderr
            assert not default_file.exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = beatcore(env, elsewhere, "-s", "var/cbs", "status")
    assert relative.returncode == STORE_NOT_FOUND
    assert str(elsewhere / "var" / "cbs.beatcore.sqlite3") in relative.stderr
    assert list(elsewhere.iterdir()) == []
