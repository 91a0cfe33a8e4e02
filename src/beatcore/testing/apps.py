"""A Celery app for in-process scheduler tests, on kombu's in-memory broker."""

from __future__ import annotations

import uuid
from typing import Any

from celery import Celery


def memory_broker_app(store_url: str, **conf: Any) -> Celery:
    """Return an app that keeps its schedule at ``store_url`` and publishes to memory.

    For tests that drive :meth:`beatcore.Scheduler.tick` themselves. kombu's in-memory broker
    is one per process, so each app gets a queue of its own: :func:`drain_task_ids` then
    returns exactly what this app's scheduler sent. The app registers the task ``tests.add``
    (``x=0, y=0``); entries naming other tasks are sent by name. ``conf`` updates
    ``app.conf`` (``beatcore_lock_ttl``, ``beatcore_key_prefix``, ``beat_schedule``, ...).
    """
    app = Celery(f"beatcore-test-{uuid.uuid4().hex[:8]}", broker="memory://", set_as_current=False)
    app.conf.update(
        beatcore_url=store_url,
        timezone="UTC",
        result_backend=None,
        beat_schedule={},
        broker_connection_retry_on_startup=False,
        task_default_queue=f"beatcore-test-{uuid.uuid4().hex}",
    )
    app.conf.update(conf)

    @app.task(name="tests.add", shared=False)  # type: ignore[untyped-decorator]
    def add(x: int = 0, y: int = 0) -> int:
        return x + y

    return app


def drain_task_ids(app: Celery) -> list[str]:
    """Take every message off the app's own queue; return their task ids, oldest first."""
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
