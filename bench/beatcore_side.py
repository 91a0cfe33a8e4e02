"""beatcore driven the way celery beat drives it, on its Redis store.

- Storing: ``beatcore.connect(url).save(Entry(name, task, Interval(1 h)))`` per entry; an update
  is the same save with ``args=(1,)`` from a new connection; in a batch,
  ``store.save_many(entries)``.
- Startup: ``beatcore.Scheduler(app)`` with ``beatcore_url``; its constructor syncs
  ``beat_schedule`` (``setup_schedule`` -> ``Store.sync_static``).
- Leadership: beatcore takes its lock in its first tick; :meth:`BeatcoreSide.lead` runs that
  tick (nothing is due then).
- Due: ``store.trigger(name)`` per entry, beatcore's public way to make an entry due now: the
  next tick claims it, sends it and acks it like any due occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery

import beatcore
from beatcore import Entry, Interval, Store
from bench.sides import LOCK_TTL, PERIOD, TASK, Side


class BeatcoreSide(Side):
    """beatcore on the schedule server, keys under ``beatcore:``."""

    name = "beatcore"

    def __init__(self, schedule_url: str, broker_url: str) -> None:
        super().__init__(schedule_url, broker_url)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """A management connection, as an application would hold one."""
        if self._store is None:
            self._store = beatcore.connect(self.schedule_url)
        return self._store

    def settings(self) -> dict[str, Any]:
        return {"beatcore_url": self.schedule_url, "beatcore_lock_ttl": LOCK_TTL}

    def store_entries(self, names: Sequence[str]) -> None:
        store = beatcore.connect(self.schedule_url)
        try:
            for name in names:
                store.save(Entry(name=name, task=TASK, schedule=Interval(PERIOD)))
        finally:
            store.close()

    def update_entries(self, names: Sequence[str]) -> None:
        store = beatcore.connect(self.schedule_url)
        try:
            for name in names:
                store.save(Entry(name=name, task=TASK, schedule=Interval(PERIOD), args=(1,)))
        finally:
            store.close()

    def store_many(self, names: Sequence[str]) -> None:
        store = beatcore.connect(self.schedule_url)
        try:
            report = store.save_many(
                Entry(name=name, task=TASK, schedule=Interval(PERIOD)) for name in names
            )
        finally:
            store.close()
        if report.refused or len(report.states) != len(names):
            raise RuntimeError(f"save_many saved {len(report.states)} of {len(names)} entries")

    def start(self, app: Celery) -> Any:
        return beatcore.Scheduler(app)

    def lead(self, scheduler: Any) -> None:
        scheduler.tick()
        if not scheduler.is_leader:
            raise RuntimeError("the beatcore scheduler did not take the lock in its first tick")

    def make_due(self, app: Celery, names: Sequence[str]) -> None:
        store = self.store
        for name in names:
            store.trigger(name)
