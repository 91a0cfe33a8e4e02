"""Fixtures for the rrule plugin's scheduler tests: a Celery app on kombu's in-memory broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from celery import Celery

from beatcore.stores.memory import MemoryStore
from beatcore.testing import DispatchRecorder, recording


@pytest.fixture
def recorder() -> Iterator[DispatchRecorder]:
    with recording() as recorder:
        yield recorder


@pytest.fixture
def store_url() -> Iterator[str]:
    name = f"rrule-{uuid.uuid4()}"
    yield f"memory://{name}"
    MemoryStore.forget(name)


@pytest.fixture
def app(store_url: str) -> Celery:
    app = Celery("beatcore-rrule-tests", broker="memory://", set_as_current=False)
    app.conf.update(
        beatcore_url=store_url,
        timezone="UTC",
        result_backend=None,
        beat_schedule={},
        broker_connection_retry_on_startup=False,
    )

    @app.task(name="tests.add", shared=False)  # one callable per app, no clash between tests
    def add(x: int = 0, y: int = 0) -> int:
        return x + y

    return app
