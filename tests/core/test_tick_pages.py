"""A tick of full pages: the next page claimed (claim_due_ahead) before the current one is
sent, up to PAGES_PER_TICK pages a tick; each page's send window starts before its claim."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
from celery import Celery

from beatcore import Entry, Interval, connect
from beatcore.listeners import Observer
from beatcore.scheduler import PAGES_PER_TICK, Scheduler
from beatcore.testing import DispatchRecorder, FakeClock
from beatcore.timeutil import UTC

from .test_history import CountingStore

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class Seconds:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def due_entries(app: Celery, clock: FakeClock, count: int) -> CountingStore:
    store = CountingStore(connect(app, clock=clock))
    store.save_many(
        Entry(name=f"e{i:02d}", task="tests.add", schedule=Interval(60)) for i in range(count)
    )
    return store


def leading_on_pages_of_two(
    app: Celery,
) -> tuple[FakeClock, Seconds, CountingStore, Scheduler]:
    """Four due entries in pages of 2, a 30 s lease, a monotonic clock the test moves, and a
    scheduler that has taken the lock (its first tick)."""
    app.conf.beatcore_batch_size = 2
    app.conf.beatcore_lock_ttl = 30
    clock = FakeClock(T0)
    seconds = Seconds()
    store = due_entries(app, clock, 4)
    scheduler = Scheduler(
        app,
        clock=clock,
        holder="A",
        store=store,  # type: ignore[arg-type]
        monotonic=seconds,
    )
    scheduler.tick()
    return clock, seconds, store, scheduler


def test_a_tick_sends_full_pages_each_claimed_before_the_previous_is_sent(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beatcore_batch_size = 2
    clock = FakeClock(T0)
    store = due_entries(beatcore_app, clock, 2 * PAGES_PER_TICK + 1)
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A", store=store)  # type: ignore[arg-type]
    scheduler.tick()  # takes the lock
    store.calls.clear()
    clock.advance(60)
    assert scheduler.tick() == 0.0, "the last page was full: tick again at once"
    assert len(beatcore_recorder.sent) == 2 * PAGES_PER_TICK
    pages = ["claim_due_ahead", "ack_stream"] * (PAGES_PER_TICK - 1)
    assert store.calls == ["claim_due", *pages, "ack_stream"]
    store.calls.clear()
    assert scheduler.tick() > 0
    assert store.calls == ["claim_due", "ack_stream"], "a page not full claims none ahead"
    assert sorted(name for name, _, _ in beatcore_recorder.sent) == [
        f"e{i:02d}" for i in range(2 * PAGES_PER_TICK + 1)
    ]


def test_the_window_of_a_page_claimed_ahead_starts_before_its_claim(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The second page was claimed before the first was sent: once a lock TTL has passed
    since then it is not sent (due again at once)."""
    clock, seconds, store, scheduler = leading_on_pages_of_two(beatcore_app)

    class Paused(Observer):
        def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
            if entry.name == "e01":
                seconds.now += 31  # beat paused after the first page's last send

    scheduler.listeners.observe(Paused())
    clock.advance(60)
    with caplog.at_level(logging.WARNING, logger="beatcore.scheduler"):
        scheduler.tick()
    # the second page's window had closed: not sent, due again at once, so the third page
    # (claimed after that, a window of its own) took and sent them
    assert [r.getMessage() for r in caplog.records if "stopped sending" in r.getMessage()]
    assert "2 entries were left unsent" in caplog.text
    assert [name for name, _, _ in beatcore_recorder.sent] == ["e00", "e01", "e02", "e03"]
    assert {store.state(f"e{i:02d}").total_run_count for i in range(4)} == {1}


def test_a_renewal_while_a_page_is_sent_keeps_the_window_of_the_page_claimed_ahead_open(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The first page takes 35 s of a 30 s lease but renews it at 20 s (past half): the
    second page, claimed at 0 s, is covered by that renewal and sent, not left for later."""
    clock, seconds, store, scheduler = leading_on_pages_of_two(beatcore_app)

    class Slow(Observer):
        def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
            seconds.now += {"e00": 20, "e01": 15}.get(entry.name, 0)

    scheduler.listeners.observe(Slow())
    clock.advance(60)
    store.calls.clear()
    with caplog.at_level(logging.WARNING, logger="beatcore.scheduler"):
        scheduler.tick()
    assert "stopped sending" not in caplog.text
    assert [name for name, _, _ in beatcore_recorder.sent] == ["e00", "e01", "e02", "e03"]
    assert {store.state(f"e{i:02d}").total_run_count for i in range(4)} == {1}
    assert store.in_flight() == []


def test_a_page_that_fails_to_send_settles_the_claim_made_ahead(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    """A page whose sending raises (here: the ack) still reads the claim sent ahead, so no
    reply is left on the store's connection; its entries stay in flight until reclaimed."""
    beatcore_app.conf.beatcore_batch_size = 2
    clock = FakeClock(T0)
    store = due_entries(beatcore_app, clock, 4)
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A", store=store)  # type: ignore[arg-type]
    scheduler.tick()
    asked: list[str] = []
    real_ahead = store.claim_due_ahead

    def counted_ahead(*args: object, **kwargs: object) -> object:
        claim = real_ahead(*args, **kwargs)

        def read() -> object:
            asked.append("read")
            return claim()

        return read

    def failing_ack(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the ack failed")

    store.claim_due_ahead = counted_ahead
    store.ack_stream = failing_ack
    clock.advance(60)
    scheduler.tick()  # logged and retried, as any failed tick
    assert asked == ["read"]
    assert sorted(f.name for f in store.in_flight()) == ["e00", "e01", "e02", "e03"]
