"""The installed ``celery`` program finds the ``beatcore`` verbs through its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def celery(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BEATCORE_CLI_TEST_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.core.cli_app:app", "beatcore", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_verbs_through_the_celery_program(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "schedule.sqlite3")
    added = celery(tmp_path, url, "add", "greet", "proj.hello", "--every", "5m")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added 'greet': every 5 minutes, task proj.hello; next run ")

    listed = celery(tmp_path, url, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:4] == ["greet", "every", "5", "minutes"]

    bad = celery(tmp_path, url, "add", "x", "proj.hello", "--cron", "61 * * * *")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "Error: Invalid value for '--cron': crontab field 'minute' has value 61" in bad.stderr

    status = celery(tmp_path, url, "status")
    assert status.returncode == 1  # no beat ever ticked: the health check fails
    assert "health:        FAIL: no beat has ever ticked on this store" in status.stdout


def test_beatcore_console_script_runs_the_same_verbs(tmp_path: Path) -> None:
    """``beatcore -A APP VERB`` is ``celery -A APP beatcore VERB`` without celery's start-up."""
    url = "sqlite:///" + str(tmp_path / "schedule.sqlite3")
    assert celery(tmp_path, url, "add", "greet", "proj.hello", "--every", "5m").returncode == 0
    env = {**os.environ, "BEATCORE_CLI_TEST_URL": url, "PYTHONPATH": str(ROOT)}
    script = str(Path(sys.executable).parent / "beatcore")

    def beatcore(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    listed = beatcore("-A", "tests.core.cli_app:app", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == celery(tmp_path, url, "list").stdout
    status = beatcore("--app=tests.core.cli_app:app", "status", "--json")
    assert status.returncode == 1 and '"healthy": false' in status.stdout  # no beat ticked
    missing = beatcore("status")
    assert missing.returncode == 2
    assert "Error: give the Celery app with -A (as for celery)" in missing.stderr


def test_a_reader_that_stops_early_ends_the_verb_quietly(tmp_path: Path) -> None:
    """``beatcore export | head``: when the reader closes the pipe, the verb stops with exit
    code 1 and no error text (as click does), not an error line about a broken pipe."""
    from datetime import timedelta

    import beatcore
    from beatcore import Entry, Interval

    url = "sqlite:///" + str(tmp_path / "schedule.sqlite3")
    store = beatcore.connect(url)
    try:  # far more text than a pipe's buffer holds
        store.save_many(
            Entry(name=f"entry-{i:05d}", task="proj.hello", schedule=Interval(timedelta(hours=1)))
            for i in range(2_000)
        )
    finally:
        store.close()
    env = {**os.environ, "BEATCORE_CLI_TEST_URL": url, "PYTHONPATH": str(ROOT)}
    script = str(Path(sys.executable).parent / "beatcore")
    with subprocess.Popen(
        [script, "-A", "tests.core.cli_app:app", "export"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as verb:  # fmt: skip
        assert verb.stdout is not None and verb.stderr is not None
        assert verb.stdout.read(100).startswith(b"{")
        verb.stdout.close()
        stderr = verb.stderr.read().decode()
        assert verb.wait(timeout=60) == 1
    assert stderr == ""


def test_a_broken_pipe_is_quiet_only_when_it_is_the_output(monkeypatch: Any) -> None:
    """A BrokenPipeError is taken for the reader going away (quiet) only when standard output
    is a pipe whose reader closed it: with the output still open, one from elsewhere (a plugin
    store's socket) is not, and stays an error line."""
    import beatcore.cli as group

    class Output:
        def __init__(self, fd: int) -> None:
            self.fd = fd

        def fileno(self) -> int:
            return self.fd

    read_end, write_end = os.pipe()
    try:
        monkeypatch.setattr(sys, "stdout", Output(write_end))
        assert not group._output_gone()
        os.close(read_end)
        read_end = -1
        assert group._output_gone()
    finally:
        os.close(write_end)
        if read_end != -1:
            os.close(read_end)
