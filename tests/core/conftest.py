"""Helpers for in-process scheduler tests.

The fixtures (``beatcore_app``, ``beatcore_recorder``, ``beatcore_store_url``,
``fake_clock``) come from beatcore's pytest plugin, :mod:`beatcore.testing.pytest_plugin`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from beatcore import connect
from beatcore.send_window import SendWindow
from beatcore.store import Store
from beatcore.testing import FakeClock

from .cli_app import Cli, app, make_cli
from .fake_broker import Elapsed


def make_scheduler(app: Celery, clock: Any, holder: str = "A") -> Any:
    from beatcore.scheduler import Scheduler

    return Scheduler(app, clock=clock, holder=holder)


@pytest.fixture
def elapsed() -> Elapsed:
    """The monotonic clock of :func:`window`, at 0 until the test moves it."""
    return Elapsed()


@pytest.fixture
def window(elapsed: Elapsed) -> Iterator[SendWindow]:
    """A send window of a fresh 30 s lease on a memory store, measured on ``elapsed``."""
    store: Store
    with connect(f"memory://window-{uuid.uuid4()}", clock=FakeClock()) as store:
        lease = store.lock.acquire("A", 30)
        assert lease is not None
        yield SendWindow(store.lock, lease, elapsed, elapsed())


@pytest.fixture(params=["memory", "sqlite"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    """The CLI on a fresh memory store, then on a fresh SQLite store (lock TTL 30 s); a test
    module with its own ``cli`` fixture uses that one instead."""
    app.conf.beatcore_lock_ttl = 30
    yield from make_cli(request.param, tmp_path)
    app.conf.beatcore_lock_ttl = None
