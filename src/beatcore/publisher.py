"""Publishing the message of one occurrence, with its task id, through celery beat's producer.

The scheduler builds one :class:`Publisher` and the outbox calls it for every send, through
the one producer celery beat keeps (opened on first use, released when the scheduler closes).
Each message is the one Celery's beat would send: for a task the app knows, its own
``apply_async`` (its routing, serializer and signals), for any other ``send_task`` by name.

Celery's path costs several times the broker write, and gives the same message for every
occurrence of an entry but for the task id and a few headers, so the publisher builds each
entry definition's message once (:mod:`beatcore.task_message`, kept for
:data:`MESSAGE_CACHE_SIZE` definitions) and writes each occurrence of it with
``Producer.publish``, or straight into a Redis broker's pipeline (:mod:`beatcore.redis_broker`),
with Celery's publish signals. What that module does not reproduce (a wrapped or overridden
``apply_async``, ``send_task`` or scheduler ``send_task``, countdown, ...) takes Celery's path.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, Protocol

from celery import beat

from beatcore import message_build
from beatcore.entry import Entry
from beatcore.redis_broker import RedisBatch, direct_channel
from beatcore.task_message import TaskMessage

#: Entry definitions whose built message is kept (a definition is one task, args, kwargs and
#: options); past it the oldest is dropped. Bounds the publisher's memory whatever N is.
MESSAGE_CACHE_SIZE = 1024

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
    """Publishes beatcore's messages through ``beat``, for the Celery app ``app``.

    :param fast: build messages once per definition (see the module); False sends every
        message through Celery's own path, as before (for comparisons).
    """

    def __init__(self, app: Any, beat: Beat, *, fast: bool = True) -> None:
        self._app = app
        self._beat = beat
        self._tasks: Any = None
        self._fast = fast
        self._messages: dict[tuple[tuple[str, str], str], TaskMessage | None] = {}
        #: A message built for each task and options, whatever its arguments.
        self._routed: dict[tuple[str, str], TaskMessage] = {}
        self._batch: RedisBatch | None = None
        #: The queues declared on the Redis channel last written to, and that channel.
        self._declared: tuple[Any, set[Any]] = (None, set())
        self._by_name = self._celery_sends_by_name()
        #: The last entry's options, args, kwargs, task name, task and cacheable message:
        #: entries a store decoded from one template share their args, and their dicts are
        #: often empty, so the next one is matched by identity (or emptiness), without the
        #: definition's key (two reprs) and look-ups.
        self._last: tuple[Any, Any, Any, str, Any, TaskMessage] | None = None
        #: Entry definitions whose message was built here (the rest took Celery's path).
        self.messages_built = 0

    def connect(self) -> Any:
        """Return beat's producer, connecting first if need be.

        Called once per tick before its first send. Raises whatever kombu raises once Celery
        gave up connecting to the broker.
        """
        producer = self._beat.producer
        self._by_name = self._celery_sends_by_name()
        self._last = None
        return producer

    def _celery_sends_by_name(self) -> bool:
        """True when the scheduler's ``send_task`` is celery beat's own: a replaced one (a
        subclass, a test) sends the tasks the app does not know, as celery beat calls it."""
        return self._fast and (
            getattr(type(self._beat), "send_task", None) is beat.Scheduler.send_task
            and "send_task" not in getattr(self._beat, "__dict__", {})
        )

    def batch(self, producer: Any) -> Any:
        """Return a batch for one write of buffered messages through ``producer``: a
        :class:`~beatcore.redis_broker.RedisBatch` on a Redis broker, else kombu's
        ``Producer.batch()``. Called by the outbox when it buffers (:meth:`can_batch`)."""
        channel = direct_channel(producer) if self._fast else None
        if channel is not None:
            if self._declared[0] is not channel:  # a new connection: declared again
                self._declared = (channel, set())
            headers = (ENTRY_HEADER, OCCURRENCE_HEADER)
            self._batch = RedisBatch(producer, channel, headers, self._declared[1])
            return self._batch
        self._batch = None
        return producer.batch(max_size=sys.maxsize)

    def can_batch(self, producer: Any) -> bool:
        """True when messages through ``producer`` can be buffered and written together:
        a Redis broker written directly, or a kombu transport that batches publishes
        (Redis, kombu >= 5.7), not when the connection retries commands on its own (a
        replayed write could then duplicate messages)."""
        if self._fast and direct_channel(producer) is not None:
            return True
        if not hasattr(producer, "batch"):
            return False
        try:
            return bool(producer.supports_batch_publish)
        except Exception:  # an unreachable broker: publish one by one, failing as Celery does
            return False

    def end_batch(self) -> None:
        """Called when the outbox leaves the batch :meth:`batch` returned."""
        self._batch = None

    def publish(self, entry: Entry, task_id: str, occurrence: datetime | None = None) -> bool:
        """Send (or, inside a batch, buffer) one message of ``entry`` as ``task_id``.

        The entry's ``options`` are passed on; its headers gain ``celery_beat_task``, as
        Celery's beat marks the tasks it sends, and, given the ``occurrence``,
        :data:`ENTRY_HEADER` and :data:`OCCURRENCE_HEADER`. Raises what Celery's send would
        raise for it.

        Returns True when the message is held by this publisher's own Redis batch (its
        write reports the message's error, :meth:`RedisBatch.read`), False when this call
        wrote it, or kombu's batch holds it (a message through an exchange, or one
        Celery's own path sends, is written at once even while a batch is open).
        """
        if self._tasks is None:
            # app.tasks is a descriptor that locks on every read; the registry never changes
            self._tasks = self._app.tasks
        last = self._last
        message: TaskMessage | None
        options, kwargs = entry.options, entry.kwargs
        if (
            last is not None
            and last[1] is entry.args
            # an Entry's dicts are its own (copies): the same, or both empty
            and (last[0] is options or not (options or last[0]))
            and (last[2] is kwargs or not (kwargs or last[2]))
            and last[3] == entry.task
        ):
            task, message = last[4], last[5]
        else:
            task = self._tasks.get(entry.task)
            message = self._message(entry, task) if self._fast else None
            if message is not None and message.cacheable:
                self._last = (entry.options, entry.args, entry.kwargs, entry.task, task, message)
        if message is None or occurrence is None:
            self._celery_publish(entry, task, task_id, occurrence)
            return False
        batch = self._batch
        if batch is not None and batch.add(message, task_id, entry.name, occurrence):
            return True
        self._publish(message, task_id, entry.name, occurrence)
        return False

    def _message(self, entry: Entry, task: Any) -> TaskMessage | None:
        """The built message of ``entry``'s definition (None: Celery's path sends it).

        Kept by definition; a definition new but for its arguments is made from the message
        of its task and options (:meth:`TaskMessage.for_arguments`), without building it all.
        """
        if task is None and not self._by_name:
            return None
        options_key = (entry.task, repr(entry.options))
        key = (options_key, repr((entry.args, entry.kwargs)))
        cache = self._messages
        try:
            return cache[key]
        except KeyError:
            pass
        routed = self._routed.get(options_key)
        message = routed.for_arguments(task, entry.args, entry.kwargs) if routed else None
        if message is None:
            options = dict(entry.options)
            options["headers"] = _beat_headers(options.pop("headers", None))
            message = message_build.build(
                self._app, task, entry.task, entry.args, entry.kwargs, options
            )
            if message is not None:
                _keep(self._routed, options_key, message)
        if message is not None:
            self.messages_built += 1
            if not message.cacheable:
                return message
        _keep(cache, key, message)
        return message

    def _publish(
        self, message: TaskMessage, task_id: str, entry_name: str, occurrence: datetime
    ) -> None:
        """Publish one occurrence of ``message`` with ``Producer.publish`` (any transport;
        inside kombu's batch when one is open), with Celery's signals around it."""
        headers, properties = message.stamp(
            task_id, entry_name, occurrence.isoformat(), ENTRY_HEADER, OCCURRENCE_HEADER
        )
        producer = self._beat.producer
        if message.result_expected:
            self._app.backend.on_task_call(producer, task_id)
        message.before_publish(headers, properties)
        producer.publish(message.body, headers=headers, **message.publish, **properties)
        message.after_publish(headers)

    def _celery_publish(
        self, entry: Entry, task: Any, task_id: str, occurrence: datetime | None
    ) -> None:
        """Send one message through Celery's own path (``apply_async`` or ``send_task``).

        It gets a copy of the entry's kwargs: the body Celery makes holds that dict, which a
        ``before_task_publish`` receiver (or a Task's own ``apply_async``) may change in place,
        and a store may hand out the same Entry for every claim of an unchanged definition.
        """
        options, kwargs = dict(entry.options), dict(entry.kwargs)
        headers = _beat_headers(options.pop("headers", None))
        if occurrence is not None:
            headers[ENTRY_HEADER] = entry.name
            headers[OCCURRENCE_HEADER] = occurrence.isoformat()
        producer = self._beat.producer
        if task is not None:
            task.apply_async(
                entry.args,
                kwargs,
                task_id=task_id,
                producer=producer,
                headers=headers,
                **options,
            )
            return
        self._beat.send_task(
            entry.task,
            entry.args,
            kwargs,
            task_id=task_id,
            producer=producer,
            headers=headers,
            **options,
        )


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Keep ``value`` under ``key``, dropping the oldest first past MESSAGE_CACHE_SIZE."""
    if len(cache) >= MESSAGE_CACHE_SIZE:
        del cache[next(iter(cache))]
    cache[key] = value


def _beat_headers(headers: Any) -> dict[str, Any]:
    """The entry's own headers and ``celery_beat_task``, as Celery's beat marks its tasks."""
    merged = dict(headers or {})
    merged.setdefault("celery_beat_task", True)
    return merged
