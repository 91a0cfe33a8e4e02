"""The Celery app the CLI tests give to ``celery -A tests.core.cli_app:app``.

Tests point ``beatcore_url`` at a fresh store and set :data:`clock` before each invocation;
the app reads the clock through ``beatcore_clock``, as a real deployment would read its own.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from celery import Celery
from celery.bin.celery import celery
from click.testing import CliRunner, Result

import beatcore
from beatcore.errors import ConfigurationError
from beatcore.store import Store
from beatcore.testing import FakeClock, forget_memory_schedule
from beatcore.timeutil import UTC

APP = "tests.core.cli_app:app"
#: Monday 2026-01-05 12:00 UTC, 13:00 in Paris.
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

clock = FakeClock(START)

app = Celery("cli-tests", broker="memory://", set_as_current=False)
app.conf.update(
    timezone="Europe/Paris",
    beatcore_clock="tests.core.cli_app:clock",
    beat_schedule={},
    # Set for the tests that run the real ``celery`` program in a subprocess.
    beatcore_url=os.environ.get("BEATCORE_CLI_TEST_URL"),
)


@app.task(name="proj.report")
def report(day: str = "today") -> str:
    return day


@app.task(name="proj.hello")
def hello(name: str = "world") -> str:
    return f"hello {name}"


@attrs.define
class Cli:
    """Runs ``celery -A tests.core.cli_app:app beatcore ...`` in-process with click's runner."""

    url: str
    runner: CliRunner = attrs.field(factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(celery, ["-A", APP, "beatcore", *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        """Run and return stdout; fail the test with the output unless the exit code is 0."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
        return result.output

    def store(self) -> Store:
        """Open the same store as the CLI, to check what it wrote."""
        return beatcore.connect(self.url, clock=clock, default_timezone="Europe/Paris")


def store_urls(tmp_path: Path) -> Sequence[str]:
    """Return a fresh memory URL and, when the SQLite store is installed, a SQLite URL."""
    return (f"memory://cli-{uuid.uuid4()}", "sqlite:///" + str(tmp_path / "beatcore.sqlite3"))


def make_cli(kind: str, tmp_path: Path) -> Iterator[Cli]:
    """Point the app at a fresh store of ``kind`` (memory or sqlite) and reset the clock."""
    memory, sqlite = store_urls(tmp_path)
    url = memory if kind == "memory" else sqlite
    if kind == "sqlite":
        try:
            beatcore.connect(sqlite).close()
        except ConfigurationError:
            pytest.skip("the SQLite store (beatcore.stores.sqlite) is not installed")
    clock.set(START)
    app.conf.beatcore_url = url
    yield Cli(url)
    if kind == "memory":
        forget_memory_schedule(memory.split("://", 1)[1])


def one_line_error(result: Result) -> str:
    """Assert ``result`` failed with one ``Error:`` line and no traceback; return the line."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def _reset_type_registry(plugins: Any) -> None:
    """Make the plugin manager rebuild its schedule-type registry on next use."""
    marker = object()
    plugins.register(marker)  # registering clears the cached registry
    plugins.manager.unregister(marker)


@contextlib.contextmanager
def rrule_plugins_removed() -> Iterator[None]:
    """Take every plugin providing the ``rrule`` type out of the plugin manager for a while."""
    from beatcore.plugins import get_plugins

    plugins = get_plugins()
    providers = []
    for name, plugin in plugins.manager.list_name_plugin():
        provide = getattr(plugin, "beatcore_schedule_types", None)
        if provide and any(getattr(c, "type_name", None) == "rrule" for c in provide() or ()):
            providers.append((name, plugin))
    for _, plugin in providers:
        plugins.manager.unregister(plugin)
    _reset_type_registry(plugins)
    try:
        yield
    finally:
        for name, plugin in providers:
            plugins.manager.register(plugin, name=name)
        _reset_type_registry(plugins)
