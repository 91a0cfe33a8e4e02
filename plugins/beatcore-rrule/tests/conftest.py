"""Fixtures for the rrule plugin's scheduler tests: a Celery app on kombu's in-memory broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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
    name = f"rrule-{uuid.uuid4()}"
    yield f"memory://{name}"
    forget_memory_schedule(name)


@pytest.fixture
def app(store_url: str) -> Celery:
    return memory_broker_app(store_url)
