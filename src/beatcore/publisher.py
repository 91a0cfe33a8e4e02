"""Publishing the message of one occurrence, with its task id, through celery beat's producer.

The scheduler builds one :class:`Publisher` and the outbox calls it for every send. A task the
app knows is sent with its own ``apply_async`` (its routing, serializer and signals), any other
by name through the scheduler's ``send_task``, as Celery's beat does; both through the one
producer celery beat keeps (opened on first use, released when the scheduler closes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from beatcore.entry import Entry

#: The message headers naming the entry and the occurrence (UTC ISO 8601) a message runs;
#: the worker side (:mod:`beatcore.tracking`) finds the run they belong to by them.
ENTRY_HEADER = "beatcore_entry"
OCCURRENCE_HEADER = "beatcore_occurrence"


class Beat(Protocol):
    """What a publisher uses of celery beat's scheduler (``celery.beat.Scheduler``)."""

    @property
    def producer(self) -> Any:
        """The kombu producer; the first read connects (and raises if the broker is down)."""

    def send_task(self, name: str, args: Any, kwargs: Any, **options: Any) -> Any:
        """Send task ``name`` by name (``app.send_task``); overridable like celery beat's."""


class Publisher:
    """Publishes beatcore's messages through ``beat``, for the Celery app ``app``."""

    def __init__(self, app: Any, beat: Beat) -> None:
        self._app = app
        self._beat = beat
        self._tasks: Any = None

    def connect(self) -> Any:
        """Return beat's producer, connecting first if need be.

        Called once per tick before its first send. Raises whatever kombu raises once Celery
        gave up connecting to the broker.
        """
        return self._beat.producer

    def publish(self, entry: Entry, task_id: str, occurrence: datetime | None = None) -> Any:
        """Send (or, inside a producer batch, buffer) one message of ``entry`` as ``task_id``.

        Returns Celery's ``AsyncResult``. The entry's ``options`` are passed on; its headers
        gain ``celery_beat_task``, as Celery's beat marks the tasks it sends, and, given the
        ``occurrence``, :data:`ENTRY_HEADER` and :data:`OCCURRENCE_HEADER`.
        """
        options = entry.options
        if options:
            options = dict(options)
            headers = dict(options.pop("headers", None) or {})
            headers.setdefault("celery_beat_task", True)
        else:
            headers = {"celery_beat_task": True}
        if occurrence is not None:
            headers[ENTRY_HEADER] = entry.name
            headers[OCCURRENCE_HEADER] = occurrence.isoformat()
        if self._tasks is None:
            # app.tasks is a descriptor that locks on every read; the registry never changes
            self._tasks = self._app.tasks
        producer = self._beat.producer
        task = self._tasks.get(entry.task)
        if task is not None:
            return task.apply_async(
                entry.args,
                entry.kwargs,
                task_id=task_id,
                producer=producer,
                headers=headers,
                **options,
            )
        return self._beat.send_task(
            entry.task,
            entry.args,
            entry.kwargs,
            task_id=task_id,
            producer=producer,
            headers=headers,
            **options,
        )
