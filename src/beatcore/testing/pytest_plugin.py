"""pytest plugin (entry point ``pytest11``): fixtures for tests of beatcore and its plugins.

``fake_clock``, and for in-process scheduler tests ``beatcore_recorder``,
``beatcore_store_url`` and ``beatcore_app`` (a Celery app on kombu's in-memory broker whose
schedule lives in a fresh memory store).

pytest imports this module in every project where beatcore is installed, so it imports nothing
of beatcore (and no Celery) until a test asks for one of its fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from celery import Celery

    from beatcore.testing.clock import FakeClock
    from beatcore.testing.recorder import DispatchRecorder


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`~beatcore.testing.FakeClock` starting at 2026-01-05 12:00 UTC."""
    from beatcore.testing.clock import FakeClock

    return FakeClock()


@pytest.fixture
def beatcore_recorder() -> Iterator[DispatchRecorder]:
    """A :class:`~beatcore.testing.DispatchRecorder` registered as a listener for the test:
    what every scheduler of the process sends, fails to send or skips."""
    from beatcore.testing.recorder import recording

    with recording() as recorder:
        yield recorder


@pytest.fixture
def beatcore_store_url() -> Iterator[str]:
    """The URL of a memory store of the test's own (``memory://beatcore-test-<uuid>``),
    forgotten after the test."""
    from beatcore.testing.records import forget_memory_schedule

    name = f"beatcore-test-{uuid.uuid4()}"
    yield f"memory://{name}"
    forget_memory_schedule(name)


@pytest.fixture
def beatcore_app(beatcore_store_url: str) -> Celery:
    """A Celery app keeping its schedule at ``beatcore_store_url`` and publishing to kombu's
    in-memory broker (see :func:`~beatcore.testing.memory_broker_app`)."""
    from beatcore.testing.apps import memory_broker_app

    return memory_broker_app(beatcore_store_url)
