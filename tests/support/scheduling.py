"""In-process scheduling helpers for real-server tests: an app, a listener, queue draining.

Tests drive ``beatcore.Scheduler.tick()`` themselves and publish to kombu's in-memory broker,
so what was sent is read back from the queue without a worker.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from celery import Celery

from beatcore import Entry, hookimpl
from beatcore.plugins import get_plugins


class DispatchRecorder:
    """A listener plugin recording dispatches, skips and leadership changes (thread-safe)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.sent: list[tuple[str, datetime, str]] = []
        self.failed: list[tuple[str, datetime, str]] = []
        self.skipped: list[tuple[str, datetime, str]] = []
        self.leadership: list[tuple[bool, str, int | None]] = []

    @hookimpl
    def beatcore_entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        with self._mutex:
            self.sent.append((entry.name, occurrence, task_id))

    @hookimpl
    def beatcore_dispatch_failed(
        self, entry: Entry, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        with self._mutex:
            self.failed.append((entry.name, occurrence, f"{type(error).__name__}: {error}"))

    @hookimpl
    def beatcore_occurrence_skipped(self, entry: Entry, occurrence: datetime, reason: str) -> None:
        with self._mutex:
            self.skipped.append((entry.name, occurrence, reason))

    @hookimpl
    def beatcore_leadership_changed(self, is_leader: bool, holder: str, token: int | None) -> None:
        with self._mutex:
            self.leadership.append((is_leader, holder, token))


@contextmanager
def recording() -> Iterator[DispatchRecorder]:
    """Register a :class:`DispatchRecorder` with beatcore's plugin manager for the block."""
    recorder = DispatchRecorder()
    manager = get_plugins().manager
    manager.register(recorder)
    try:
        yield recorder
    finally:
        manager.unregister(recorder)


def memory_broker_app(store_url: str, **conf: Any) -> Celery:
    """A Celery app on kombu's in-memory broker with a queue of its own, storing in ``store_url``.

    ``conf`` updates ``app.conf`` (``beatcore_key_prefix``, ``beatcore_lock_ttl``, ...).
    """
    app = Celery(f"beatcore-it-{uuid.uuid4().hex[:8]}", broker="memory://", set_as_current=False)
    app.conf.update(
        beatcore_url=store_url,
        timezone="UTC",
        result_backend=None,
        beat_schedule={},
        broker_connection_retry_on_startup=False,
        task_default_queue=f"it-{uuid.uuid4().hex}",
    )
    app.conf.update(conf)

    @app.task(name="tests.noop", shared=False)  # type: ignore[untyped-decorator]
    def noop(*args: Any, **kwargs: Any) -> None:
        return None

    return app


def drain_task_ids(app: Celery) -> list[str]:
    """Take every message off the app's default queue and return their task ids in order."""
    ids: list[str] = []
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                ids.append(message.headers["id"])
                message.ack()
        finally:
            queue.close()
    return ids
