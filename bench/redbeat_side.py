"""RedBeat (``celery-redbeat``) driven the way celery beat drives it.

- Storing: ``RedBeatSchedulerEntry(name, task, schedule, app=app).save()`` per entry (an update:
  the same with ``args=(1,)``; RedBeat has no batch API, so a batch is the same loop).
- Startup: ``RedBeatScheduler(app)`` with ``redbeat_redis_url``; its constructor syncs
  ``beat_schedule`` (``setup_schedule``).
- Leadership: RedBeat takes its lock in a ``beat_init`` signal handler
  (``acquire_distributed_beat_lock``); it is called here with the scheduler as beat would.
- Due: ``entry.reschedule(last_run_at=now - 2 h)`` per entry, RedBeat's own way of setting the
  last run: the hourly schedule is then overdue, so RedBeat scores it "due now" and its tick
  sends it and moves ``last_run_at`` to now.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from celery import Celery
from celery.schedules import schedule as celery_schedule
from redbeat.schedulers import (  # type: ignore[import-untyped]
    RedBeatScheduler,
    RedBeatSchedulerEntry,
    acquire_distributed_beat_lock,
)

from bench.sides import LOCK_TTL, PERIOD, TASK, Side


class RedBeatSide(Side):
    """RedBeat on the schedule server, keys under ``redbeat:``."""

    name = "redbeat"

    def settings(self) -> dict[str, Any]:
        return {
            "redbeat_redis_url": self.schedule_url,
            "redbeat_key_prefix": "redbeat:",
            "redbeat_lock_timeout": int(LOCK_TTL),
        }

    def store_entries(self, names: Sequence[str]) -> None:
        app = self.app()
        for name in names:
            RedBeatSchedulerEntry(name, TASK, celery_schedule(PERIOD), app=app).save()

    def update_entries(self, names: Sequence[str]) -> None:
        app = self.app()
        for name in names:
            RedBeatSchedulerEntry(name, TASK, celery_schedule(PERIOD), args=(1,), app=app).save()

    def store_many(self, names: Sequence[str]) -> None:
        self.store_entries(names)

    def start(self, app: Celery) -> Any:
        return RedBeatScheduler(app)

    def lead(self, scheduler: Any) -> None:
        acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=scheduler))

    def make_due(self, app: Celery, names: Sequence[str]) -> None:
        past = app.now() - 2 * PERIOD
        for name in names:
            entry = RedBeatSchedulerEntry(name, TASK, celery_schedule(PERIOD), app=app)
            entry.reschedule(last_run_at=past)
