"""What both sides of the benchmark share: the entries, the Celery app and the publishing switch.

A side (:class:`Side`) knows how to store entries through its public API, construct its
scheduler class with a Celery app, take leadership and make given entries due. The scenarios
in :mod:`bench.worker` drive both sides through this one interface, so both do the same work.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from celery import Celery
from celery.schedules import schedule as celery_schedule

import beatcore
from beatcore.plugins import get_plugins

#: The task every entry sends. It is deliberately not registered in the app, so both
#: schedulers publish it through ``Scheduler.send_task`` (see :func:`exclude_publishing`).
TASK = "bench.noop"
#: Every entry runs hourly: nothing comes due by itself while the benchmark runs.
PERIOD = timedelta(hours=1)
#: Both schedulers' lock TTL (seconds). Making 100k entries due between two timed ticks takes
#: longer than the default TTLs (RedBeat 25 s, beatcore 30 s), and a lapsed lock would make the
#: next tick fail (RedBeat) or re-acquire (beatcore); the TTL does not change a tick's cost.
LOCK_TTL = 900.0


def entry_names(n: int) -> list[str]:
    """Return the names of the ``n`` benchmark entries."""
    return [f"bench-{i:06d}" for i in range(n)]


def beat_schedule(n: int) -> dict[str, dict[str, Any]]:
    """Return a ``beat_schedule`` of ``n`` static entries, as a user writes it for either side."""
    return {name: {"task": TASK, "schedule": celery_schedule(PERIOD)} for name in entry_names(n)}


class SentResult:
    """What the no-op publish returns: the one attribute both schedulers read (``id``)."""

    __slots__ = ("id",)

    def __init__(self, task_id: str | None) -> None:
        self.id = task_id


class Sends:
    """Counts the messages a scheduler handed to ``send_task`` (published or not)."""

    def __init__(self) -> None:
        self.count = 0


def exclude_publishing(scheduler: Any, sends: Sends) -> None:
    """Replace the scheduler's ``send_task`` with a no-op that counts and returns a result.

    Both schedulers send an unregistered task through ``celery.beat.Scheduler.send_task``
    (beatcore from its ``Publisher``, RedBeat from ``celery.beat.Scheduler.apply_async``
    after its ``reserve``), so everything before the publish runs unchanged on both sides,
    including the scheduler's own producer being created, and only ``app.send_task`` is skipped.
    """

    def send_task(name: str, args: Any = None, kwargs: Any = None, **options: Any) -> SentResult:
        sends.count += 1
        return SentResult(options.get("task_id"))

    scheduler.send_task = send_task


class _SentCounter:
    """A beatcore listener counting the occurrences its scheduler reports sent."""

    def __init__(self, sends: Sends) -> None:
        self.sends = sends

    @beatcore.hookimpl
    def beatcore_entry_dispatched(self, entry: Any, occurrence: Any, task_id: str) -> None:
        self.sends.count += 1


def count_publishing(scheduler: Any, sends: Sends) -> None:
    """Restore the real ``send_task`` (publishing to the broker) and count each message.

    RedBeat's messages are counted at its ``send_task``; beatcore's by a listener (each
    occurrence it reports sent), since beatcore publishes through ``send_task`` only when
    it was replaced (as :func:`exclude_publishing` does) and otherwise builds each message
    itself (``beatcore.task_message``).
    """
    scheduler.__dict__.pop("send_task", None)
    if isinstance(scheduler, beatcore.Scheduler):
        get_plugins().manager.register(_SentCounter(sends))
        return
    original: Callable[..., Any] = scheduler.send_task

    def send_task(*args: Any, **kwargs: Any) -> Any:
        sends.count += 1
        return original(*args, **kwargs)

    scheduler.send_task = send_task


class Side(abc.ABC):
    """One scheduler under test, on the schedule server ``schedule_url`` (``redis://h:p/db``).

    :param schedule_url: where the schedule lives.
    :param broker_url: the Celery broker (the second server).
    """

    name: ClassVar[str]

    def __init__(self, schedule_url: str, broker_url: str) -> None:
        self.schedule_url = schedule_url
        self.broker_url = broker_url

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """Return the side's own Celery settings (where its schedule lives)."""

    def app(self, schedule: Mapping[str, Any] | None = None) -> Celery:
        """Return a new Celery app (made current) with ``schedule`` as ``beat_schedule``."""
        app = Celery(f"bench-{self.name}", broker=self.broker_url, set_as_current=True)
        app.conf.update(
            beat_schedule=dict(schedule or {}),
            timezone="UTC",
            enable_utc=True,
            beat_max_loop_interval=5,
            broker_connection_retry_on_startup=True,
            **self.settings(),
        )
        return app

    @abc.abstractmethod
    def store_entries(self, names: Sequence[str]) -> None:
        """Store one dynamic hourly entry per name through the side's public API."""

    @abc.abstractmethod
    def update_entries(self, names: Sequence[str]) -> None:
        """Save each stored entry again with a changed definition (args ``(1,)``), one by one
        through the side's public API, from a connection that has not read them."""

    @abc.abstractmethod
    def store_many(self, names: Sequence[str]) -> None:
        """Store one dynamic hourly entry per name through the side's batch API (RedBeat has
        none: one save per entry, as :meth:`store_entries`)."""

    @abc.abstractmethod
    def start(self, app: Celery) -> Any:
        """Construct the scheduler class with ``app``: this is the startup that is timed."""

    @abc.abstractmethod
    def lead(self, scheduler: Any) -> None:
        """Make ``scheduler`` the leader, as beat does before its first tick."""

    @abc.abstractmethod
    def make_due(self, app: Celery, names: Sequence[str]) -> None:
        """Make the named entries due now (outside the timed part)."""

    def stop(self, scheduler: Any) -> None:
        """Close the scheduler, releasing its lock."""
        scheduler.close()


def side_class(name: str) -> type[Side]:
    """Return the side called ``name`` (``beatcore`` or ``redbeat``)."""
    if name == "beatcore":
        from bench.beatcore_side import BeatcoreSide

        return BeatcoreSide
    if name == "redbeat":
        from bench.redbeat_side import RedBeatSide

        return RedBeatSide
    raise ValueError(f"unknown side {name!r}: expected 'beatcore' or 'redbeat'")
