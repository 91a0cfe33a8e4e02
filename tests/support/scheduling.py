"""In-process scheduling helpers for real-server tests: an app and queue draining.

Tests drive ``beatcore.Scheduler.tick()`` themselves and publish to kombu's in-memory broker,
so what was sent is read back from the queue without a worker; the listener that records
dispatches is :class:`beatcore.testing.DispatchRecorder`.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import Celery


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
