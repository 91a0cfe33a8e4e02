"""A fake kombu producer and celery beat, and a monotonic clock, for the send path's tests.

The real :class:`~beatcore.publisher.Publisher` runs on top of them: it sends tasks the app does
not know through ``FakeBeat.send_task``, which "publishes" through the fake producer. The
producer writes each message at once, or buffers it inside ``batch()`` until ``flush()``, as
kombu's Redis transport does; every write (a list of task ids) is kept in ``writes``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from celery import Celery

from beatcore.publisher import Publisher


class Elapsed:
    """A monotonic clock (seconds) that moves only when the test sets ``seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class BrokerDown(Exception):
    """What the fake broker raises for a refused message or write."""


class FakeBatch:
    def __init__(self, producer: FakeProducer) -> None:
        self.producer = producer
        self.buffer: list[str] = []

    def __enter__(self) -> FakeBatch:
        self.producer.open_batch = self
        return self

    def flush(self) -> None:
        buffer, self.buffer = self.buffer, []
        self.producer.write(buffer)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.producer.open_batch = None
        if exc_type is None and self.buffer:
            self.flush()
        self.buffer = []


class FakeProducer:
    """Keeps every write; ``failing_writes`` of the next writes fail (OOM, say)."""

    def __init__(self, *, batches: bool = True) -> None:
        self.supports_batch_publish = batches
        self.writes: list[list[str]] = []
        self.open_batch: FakeBatch | None = None
        self.failing_writes = 0

    def batch(self, max_size: int) -> FakeBatch:
        return FakeBatch(self)

    def publish(self, task_id: str) -> None:
        if self.open_batch is not None:
            self.open_batch.buffer.append(task_id)
        else:
            self.write([task_id])

    def write(self, task_ids: list[str]) -> None:
        if self.failing_writes:
            self.failing_writes -= 1
            raise BrokerDown(f"OOM writing {len(task_ids)} messages")
        self.writes.append(task_ids)

    @property
    def sent(self) -> list[str]:
        return [task_id for write in self.writes for task_id in write]


class FakeBeat:
    """The part of ``celery.beat.Scheduler`` a publisher uses: its producer and send_task.

    ``unreachable``: reading the producer raises, as once Celery gave up connecting.
    ``refused``: task names whose messages the broker refuses at once.
    """

    def __init__(self, producer: FakeProducer, *, unreachable: bool = False) -> None:
        self._producer = producer
        self.unreachable = unreachable
        self.refused: set[str] = set()
        self.headers: list[dict[str, Any]] = []
        #: Called with each task id right after it was handed to the producer.
        self.after_publish: Callable[[str], None] = lambda task_id: None

    @property
    def producer(self) -> FakeProducer:
        if self.unreachable:
            raise ConnectionRefusedError("Connection refused (gave up after 1 retry)")
        return self._producer

    def send_task(self, name: str, args: Any, kwargs: Any, **options: Any) -> Any:
        assert options["producer"] is self._producer
        if name in self.refused:
            raise BrokerDown(f"queue of {name} holds a string")
        self.headers.append(options["headers"])
        self._producer.publish(options["task_id"])
        self.after_publish(options["task_id"])
        return options["task_id"]


def fake_publisher(
    producer: FakeProducer, *, unreachable: bool = False
) -> tuple[Publisher, FakeBeat]:
    """Return a real publisher over a fake beat and ``producer``, and the fake beat."""
    beat = FakeBeat(producer, unreachable=unreachable)
    app = Celery("fake-broker", set_as_current=False)
    return Publisher(app, beat), beat
