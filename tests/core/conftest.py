"""Fixtures for in-process scheduler tests: a Celery app on kombu's in-memory broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

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
    name = f"sched-{uuid.uuid4()}"
    yield f"memory://{name}"
    MemoryStore.forget(name)


@pytest.fixture
def app(store_url: str) -> Celery:
    app = Celery("beatcore-tests", broker="memory://", set_as_current=False)
    app.conf.update(
        beatcore_url=store_url,
        timezone="UTC",
        result_backend=None,
        beat_schedule={},
        broker_connection_retry_on_startup=False,
    )

    @app.task(name="tests.add", shared=False)
    def add(x: int = 0, y: int = 0) -> int:
        return x + y

    # kombu's memory transport is one broker per process: drop what earlier tests left queued.
    queued_task_ids(app)
    return app


def queued_task_ids(app: Celery, queue: str = "celery") -> list[str]:
    """Drain ``queue`` on the in-memory broker and return the task ids of its messages."""
    ids: list[str] = []
    with app.connection_for_read() as conn:
        simple = conn.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = simple.get(block=False)
                except simple.Empty:
                    break
                ids.append(message.headers["id"])
                message.ack()
        finally:
            simple.close()
    return ids


def make_scheduler(app: Celery, clock: Any, holder: str = "A") -> Any:
    from beatcore.scheduler import Scheduler

    return Scheduler(app, clock=clock, holder=holder)
