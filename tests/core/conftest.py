"""Fixtures for in-process scheduler tests: a Celery app on kombu's in-memory broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from beatcore.testing import (
    DispatchRecorder,
    forget_memory_schedule,
    memory_broker_app,
    recording,
)


@pytest.fixture
def recorder() -> Iterator[DispatchRecorder]:
    with recording() as recorder:
        yield recorder


@pytest.fixture
def store_url() -> Iterator[str]:
    name = f"sched-{uuid.uuid4()}"
    yield f"memory://{name}"
    forget_memory_schedule(name)


@pytest.fixture
def app(store_url: str) -> Celery:
    return memory_broker_app(store_url)


def make_scheduler(app: Celery, clock: Any, holder: str = "A") -> Any:
    from beatcore.scheduler import Scheduler

    return Scheduler(app, clock=clock, holder=holder)
