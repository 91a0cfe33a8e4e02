"""Run history: what each tick did with each occurrence, in the acks and in the store.

A real Scheduler on the memory store with an injected clock, and the dispatcher on the fake
broker for the failed sends; the store calls of a tick counted (the tick budget).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from beatcore import Entry, EntryState, Interval, connect, storekit, timing
from beatcore.dispatch import ClaimDispatcher
from beatcore.listeners import Listeners
from beatcore.plugins import get_plugins
from beatcore.scheduler import Scheduler
from beatcore.send_window import SendWindow
from beatcore.settings import Settings
from beatcore.store import Claim, RunRecord, Store
from beatcore.testing import DispatchRecorder, FakeClock
from beatcore.timeutil import UTC

from .fake_broker import FakeProducer, fake_publisher

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture(params=["memory", "sqlite"])
def app(request: pytest.FixtureRequest, beatcore_app: Celery, tmp_path: Path) -> Celery:
    """The test app on a memory store, then on a SQLite file."""
    if request.param == "sqlite":
        beatcore_app.conf.beatcore_url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    return beatcore_app


def test_ticks_record_sent_with_lateness_and_skipped_with_the_reason(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app = app
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="a", task="tests.add", schedule=Interval(10)))
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A")
    scheduler.tick()
    clock.advance(10.25)
    scheduler.tick()
    (first,) = store.history("a")
    at = T0 + 10 * SECOND
    assert first == RunRecord(
        at, timing.task_id("a", at), "sent", sent_at=clock(), lateness=pytest.approx(0.25)
    )
    clock.advance(40)  # T0+50.25: 20, 30, 40 missed, 50 sent (catch_up latest)
    scheduler.tick()
    history = store.history("a")
    assert [(r.occurrence, r.outcome) for r in history] == [
        (T0 + 50 * SECOND, "sent"),
        (T0 + 40 * SECOND, "skipped"),
        (T0 + 30 * SECOND, "skipped"),
        (T0 + 20 * SECOND, "skipped"),
        (at, "sent"),
    ]
    assert history[1].detail == "missed, catch_up=latest"
    assert history[1].sent_at is None and history[1].lateness is None
    assert [r.occurrence for r in store.history("a", limit=2)] == [
        T0 + 50 * SECOND,
        at + 30 * SECOND,
    ]


def test_history_is_bounded_by_the_setting(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app = app
    beatcore_app.conf.beatcore_history_size = 5
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="a", task="tests.add", schedule=Interval(1), catch_up="all"))
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A")
    scheduler.tick()
    clock.advance(3600)  # 3,600 occurrences sent or skipped in one tick
    scheduler.tick()
    history = store.history("a")
    assert len(history) == 5
    assert history[0].occurrence == T0 + 3600 * SECOND


def test_an_occurrence_a_dead_leader_claimed_is_recorded_as_resent(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app = app
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="a", task="tests.add", schedule=Interval(10)))
    dead = store.lock.acquire("dead", 30)
    assert dead is not None
    clock.advance(10)
    assert len(store.claim_due(dead, clock(), limit=10, reclaim_after=30).claims) == 1
    clock.advance(31)  # the lease lapsed, the claim is older than reclaim_after
    scheduler = Scheduler(beatcore_app, clock=clock, holder="B")
    scheduler.tick()
    outcomes = [(r.occurrence, r.outcome) for r in store.history("a")]
    assert (T0 + 10 * SECOND, "resent") in outcomes


def test_a_failed_send_is_recorded_with_its_error(window: SendWindow) -> None:
    producer = FakeProducer()
    publisher, beat = fake_publisher(producer)
    beat.refused.add("tasks.refused")
    now = T0 + 10 * SECOND
    entry = Entry(name="refused", task="tasks.refused", schedule=Interval(10))
    dispatcher = ClaimDispatcher(
        Settings(url="memory://"),
        timing.CatchUpSettings(),
        publisher,
        Listeners(get_plugins()),
        FakeClock(now),
    )
    (ack,) = dispatcher.dispatch([Claim(entry, EntryState(next_run_at=now))], now, window)
    (run,) = ack.runs
    assert (run.occurrence, run.task_id, run.outcome) == (
        now,
        timing.task_id("refused", now),
        "send_failed",
    )
    assert run.detail == "queue of tasks.refused holds a string"
    assert run.sent_at is None


class CountingStore:
    """Counts the calls a scheduler makes to a store (each is one round trip or fewer)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if callable(value) and not name.startswith("_"):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return value(*args, **kwargs)

            return counted
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_store", "calls"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._store, name, value)


@pytest.mark.parametrize("due", [1, 10, 100])
def test_history_costs_no_store_call_of_its_own(
    app: Celery, beatcore_recorder: DispatchRecorder, due: int
) -> None:
    beatcore_app = app
    """An idle tick is one claim, a tick of k due entries a claim and one ack, for any k."""
    clock = FakeClock(T0)
    counting = CountingStore(connect(beatcore_app, clock=clock))
    for i in range(due):
        counting.save(Entry(name=f"e{i:03d}", task="tests.add", schedule=Interval(10)))
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A", store=counting)  # type: ignore[arg-type]
    scheduler.tick()  # takes the lock
    counting.calls.clear()
    clock.advance(1)
    scheduler.tick()
    assert counting.calls == ["claim_due"]
    counting.calls.clear()
    clock.advance(9)
    scheduler.tick()
    assert counting.calls == ["claim_due", "ack_stream"]
    assert all(len(counting.history(f"e{i:03d}")) == 1 for i in range(due))


@pytest.mark.parametrize("due", [1, 100])
def test_on_sqlite_the_ack_and_its_history_are_one_transaction(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, tmp_path: Path, due: int
) -> None:
    """Transactions (BEGIN) a tick opens on a SQLite file: 1 idle, 2 for k due (claim, ack)."""
    beatcore_app.conf.beatcore_url = f"sqlite:///{tmp_path / 'count.sqlite3'}"
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    for i in range(due):
        store.save(Entry(name=f"e{i:03d}", task="tests.add", schedule=Interval(10)))
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A", store=store)
    scheduler.tick()
    begins: list[str] = []
    store._db._conn.set_trace_callback(  # type: ignore[attr-defined]
        lambda sql: begins.append(sql) if sql.startswith("BEGIN") else None
    )
    clock.advance(1)
    scheduler.tick()
    assert len(begins) == 1
    begins.clear()
    clock.advance(9)
    scheduler.tick()
    assert len(begins) == 2
    assert len(store.history("e000")) == 1


def test_run_records_read_back_and_an_unreadable_one_is_left_out() -> None:
    at = T0 + SECOND
    full = RunRecord(at, "id", "sent", sent_at=at + SECOND, lateness=1.0)
    bare = RunRecord(at, "id", "skipped", "max_runs=1 reached")
    assert RunRecord.from_json(full.to_json()) == full
    assert RunRecord.from_json(bare.to_json()) == bare
    for bad in ("", "[]", '{"occurrence": "2026-01-05T12:00:00"}', "nan", '{"v": 1}'):
        assert RunRecord.from_json(bad) is None, bad
    stored = storekit.append_history([], [bare], 3)
    stored = storekit.append_history([*stored, "not json"], [full], 3)
    assert storekit.read_history(stored, None) == [full, bare]
    assert storekit.append_history(stored, [full] * 5, 0) == []
    with pytest.raises(ValueError):
        RunRecord(at, "id", "ran")


def test_the_usual_ticks_record_is_the_general_paths() -> None:
    """tick_runs' shortcut (one sent outcome, nothing skipped) gives the record its general
    path gives when a not-tried outcome (which records nothing) rides along: sent and
    re-sent, with and without a write instant, in any zone's arithmetic."""
    from beatcore.history import tick_runs
    from beatcore.runs import RunPlan, SendOutcome, SendStatus

    entry = Entry(name="e", task="t", schedule=Interval(60))
    for recovered in (False, True):
        for next_run_at in (None, T0, T0 + SECOND):
            for at in (None, T0 + timedelta(microseconds=1234), T0 - SECOND):
                state = EntryState(next_run_at=next_run_at)
                claim = Claim(entry, state, recovered)
                plan = RunPlan((T0,), (), T0 + 60 * SECOND)
                sent = SendOutcome(entry, T0, timing.task_id("e", T0), SendStatus.SENT)
                later = T0 + 60 * SECOND
                untried = SendOutcome(entry, later, "x", SendStatus.NOT_TRIED)
                sent_at = {} if at is None else {T0: at}
                quick = tick_runs(claim, plan, [sent], sent_at)
                general = tick_runs(claim, plan, [sent, untried], sent_at)
                assert quick == general
                assert [r.to_json() for r in quick] == [r.to_json() for r in general]
                assert quick[0].outcome == ("resent" if recovered and next_run_at == T0 else "sent")
