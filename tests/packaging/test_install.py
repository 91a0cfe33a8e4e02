"""The project installs as documented: the built wheel in a clean virtualenv, and pytest's view.

These build the wheel and create a virtualenv, so they are marked ``e2e``; the packages are
installed by pip from its usual index and cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROJ = """
from celery import Celery

app = Celery("proj", broker="memory://")
app.conf.beatcore_url = "redis://127.0.0.1:1/0"
"""

ENTRY_POINTS = """
import json
from importlib.metadata import entry_points, metadata
print(json.dumps({
    group: sorted(f"{ep.name}={ep.value}" for ep in entry_points(group=group))
    for group in ("beatcore", "celery.commands", "pytest11")
} | {"license": metadata("beatcore")["License-Expression"]}))
"""


def run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding the built wheel and its required dependencies, no extras."""
    tmp = tmp_path_factory.mktemp("install")
    built = run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp)], tmp
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp.glob("beatcore-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (tmp / "wheel-files.txt").write_text("\n".join(archive.namelist()))
    venv = tmp / "venv"
    created = run([sys.executable, "-m", "venv", str(venv)], tmp)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    installed = run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp)
    assert installed.returncode == 0, installed.stderr
    (tmp / "proj.py").write_text(PROJ)
    return venv


@pytest.mark.e2e
def test_wheel_declares_its_entry_points_and_license(clean_venv: Path) -> None:
    shown = run([str(clean_venv / "bin" / "python"), "-c", ENTRY_POINTS], clean_venv)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "beatcore": [
            "postgres=beatcore_postgres.plugin",
            "redis=beatcore_redis.plugin",
            "web=beatcore_web.plugin",
        ],
        "celery.commands": ["beatcore=beatcore.cli:beatcore"],
        "pytest11": ["beatcore=beatcore.testing.pytest_plugin"],
        "license": "BSD-3-Clause",
    }
    python = str(clean_venv / "bin" / "python")
    version = run([python, "-c", "import beatcore; print(beatcore.__version__)"], clean_venv)
    assert version.stdout.strip() == "0.1.0"
    assert (clean_venv / "bin" / "beatcore").exists()  # the console script


@pytest.mark.e2e
def test_missing_redis_extra_is_one_line_from_the_cli(clean_venv: Path) -> None:
    result = run(
        [str(clean_venv / "bin" / "celery"), "-A", "proj", "beatcore", "list"], clean_venv.parent
    )
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: the Redis store (redis://) needs the 'redis' extra: pip install "
        "'beatcore[redis]' (module 'redis' is not installed)"
    ]
    assert result.returncode == 2


@pytest.mark.e2e
def test_the_wheel_holds_the_dashboards_templates(clean_venv: Path) -> None:
    files = set((clean_venv.parent / "wheel-files.txt").read_text().splitlines())
    for name in ("entries.html", "entry.html", "form.html", "health.html", "base.html"):
        assert f"beatcore_web/templates/{name}" in files, name
    assert {"beatcore_web/static/style.css", "beatcore_web/py.typed"} <= files


@pytest.mark.e2e
def test_missing_web_extra_is_one_line_from_the_cli(clean_venv: Path) -> None:
    result = run(
        [str(clean_venv / "bin" / "celery"), "-A", "proj", "beatcore", "web"], clean_venv.parent
    )
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: celery beatcore web needs the 'web' extra: pip install 'beatcore[web]' "
        "(module 'uvicorn' is not installed)"
    ]
    assert result.returncode == 2


@pytest.mark.e2e
def test_missing_redis_extra_is_one_line_from_beat(clean_venv: Path) -> None:
    result = run(
        [str(clean_venv / "bin" / "celery"), "-A", "proj", "beat", "-S", "beatcore.Scheduler",
         "--loglevel=INFO"],
        clean_venv.parent, timeout=60,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.returncode == 1
    critical = [line for line in output.splitlines() if "CRITICAL" in line]
    assert len(critical) == 1
    assert critical[0].endswith(
        "beatcore: beat cannot start: the Redis store (redis://) needs the 'redis' extra: pip "
        "install 'beatcore[redis]' (module 'redis' is not installed)"
    )


def test_pytest_plugin_imports_no_celery_until_a_fixture_is_used(tmp_path: Path) -> None:
    """A project with beatcore installed pays nothing for Celery in tests that do not use it."""
    (tmp_path / "test_one.py").write_text(
        textwrap.dedent(
            """
            import sys

            def test_first_without_beatcore():
                assert "celery" not in sys.modules

            def test_fixture(fake_clock):
                assert fake_clock().isoformat() == "2026-01-05T12:00:00+00:00"
            """
        )
    )
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "test_one.py"],
        tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
