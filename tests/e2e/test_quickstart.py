"""The README's first command, run bounded so it cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_quickstart_runs_real_beat_and_worker_with_no_server(tmp_path: Path) -> None:
    env = dict(os.environ, PROJ_VAR_DIR=str(tmp_path / "var"), PROJ_INTERVAL="1")
    env.pop("PROJ_BROKER_URL", None)
    env.pop("PROJ_BEATCORE_URL", None)
    done = subprocess.run(
        [sys.executable, str(QUICKSTART), "--seconds", "15"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    succeeded = re.findall(
        r"worker \| .*Task proj\.(?:hello|add)\[[0-9a-f-]+\] succeeded in", output
    )
    assert len(succeeded) >= 4, output
    assert "store -> sqlite:///" in output
    assert "released leadership" in output
    assert (tmp_path / "var" / "celerybeat-schedule.beatcore.sqlite3").exists()
