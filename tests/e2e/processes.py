"""Starting and stopping real ``celery`` processes for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def celery_command(*args: str) -> list[str]:
    """``celery -A proj ...`` run with this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "proj", *args]


def worker_command() -> list[str]:
    """A real ``celery worker`` of the example project: one process, no cluster chatter."""
    return celery_command(
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
    )


def beat_command(schedule_file: Path) -> list[str]:
    """A real ``celery beat -S beatcore.Scheduler`` whose ``--schedule`` is ``schedule_file``."""
    return celery_command(
        "beat", "-S", "beatcore.Scheduler", "--loglevel=INFO", "--schedule", str(schedule_file)
    )


def project_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of the example project, writing its state under ``tmp``."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(EXAMPLES), env.get("PYTHONPATH", "")])),
        PROJ_VAR_DIR=str(tmp / "var"),
        PROJ_RECORD_FILE=str(tmp / "runs.jsonl"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextmanager
def running(
    cmd: list[str], env: Mapping[str, str], log: Path, cwd: Path = EXAMPLES
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` in ``cwd`` for the block; always stopped (TERM, then KILL) after it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """Send SIGTERM and wait; SIGKILL the process group if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, logs: list[Path]) -> None:
    """Poll ``predicate`` until true; on timeout fail with the process logs attached."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name} ---\n{p.read_text(errors='replace')[-4000:]}" for p in logs)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


def runs(tmp: Path) -> list[dict[str, Any]]:
    """The task runs the worker recorded."""
    path = tmp / "runs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def is_deterministic_task_id(task_id: str) -> bool:
    """True for the uuid5 ids beatcore gives each occurrence."""
    return uuid.UUID(task_id).version == 5
