"""A tick of full pages on the Redis store, whose claim ahead runs before the previous page
is sent: a page still being sent when the next claim runs is never taken again as stale."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import beatcore
from beatcore import Entry, Interval
from beatcore.listeners import Observer
from beatcore.testing import FakeClock, drain_task_ids, memory_broker_app, recording
from beatcore.testing.contract import T0


def test_a_page_sent_for_longer_than_reclaim_after_is_not_reclaimed_by_the_next_claim(
    redis_db: Any,
) -> None:
    """Pages of 2 with reclaim_after 1 s. Sending the first page takes 1.2 s (on the
    scheduler's clock), after the second page was claimed ahead: the third page's claim,
    sent before the second page is, must not see the second page as abandoned."""
    url, prefix = redis_db.url, f"pages-{uuid.uuid4().hex[:8]}:"
    clock = FakeClock(T0)
    app = memory_broker_app(
        url,
        beatcore_key_prefix=prefix,
        beatcore_batch_size=2,
        beatcore_reclaim_after=1,
        beatcore_lock_ttl=30,
    )
    manager = beatcore.connect(url, clock=clock, key_prefix=prefix)
    try:
        manager.save_many(
            Entry(name=f"e{i:02d}", task="tests.add", schedule=Interval(3600)) for i in range(6)
        )
        for i in range(6):
            manager.trigger(f"e{i:02d}")
    finally:
        manager.close()

    class SlowBroker(Observer):
        def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
            if entry.name == "e01":
                clock.advance(1.2)

    with recording() as recorder:
        scheduler = beatcore.Scheduler(app, clock=clock, holder="A")
        scheduler.listeners.observe(SlowBroker())
        try:
            scheduler.tick()  # takes the lock and sends the triggered entries
            assert scheduler.is_leader
            ids = drain_task_ids(app)
            store = scheduler.store
            assert Counter(name for name, _, _ in recorder.sent) == {
                f"e{i:02d}": 1 for i in range(6)
            }
            assert sorted(ids) == sorted(set(ids)) and len(ids) == 6
            assert store.in_flight() == []
            assert {store.state(f"e{i:02d}").total_run_count for i in range(6)} == {1}
            assert all(len(store.history(f"e{i:02d}")) == 1 for i in range(6))
        finally:
            scheduler.close()
