"""beatcore.Scheduler driven tick by tick with an injected clock, on the memory store."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from celery.schedules import crontab

from beatcore import Crontab, Entry, Interval, connect, hookimpl, timing
from beatcore.plugins import get_plugins
from beatcore.testing import DispatchRecorder, FakeClock, drain_task_ids
from beatcore.timeutil import UTC

from .conftest import make_scheduler

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_static_interval_entry_fires_at_its_instants(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beat_schedule = {
        "add": {"task": "tests.add", "schedule": 10.0, "args": (1, 2)}
    }
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    assert scheduler.tick() == pytest.approx(5.0)  # capped by beat_max_loop_interval
    assert beatcore_recorder.sent == []
    clock.advance(10)
    scheduler.tick()
    assert beatcore_recorder.sent == [
        ("add", T0 + timedelta(seconds=10), timing.task_id("add", T0 + timedelta(seconds=10)))
    ]
    clock.advance(9)
    scheduler.tick()
    assert len(beatcore_recorder.sent) == 1
    clock.advance(1)
    scheduler.tick()
    assert [occ for _, occ, _ in beatcore_recorder.sent] == [
        T0 + timedelta(seconds=10),
        T0 + timedelta(seconds=20),
    ]
    assert drain_task_ids(beatcore_app) == [task_id for _, _, task_id in beatcore_recorder.sent]


def test_tick_sleeps_no_longer_than_next_due(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beat_schedule = {"add": {"task": "tests.add", "schedule": 3.0}}
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    assert scheduler.tick() == pytest.approx(3.0)
    clock.advance(2.5)
    assert scheduler.tick() == pytest.approx(0.5)


def test_celery_crontab_entry_fires_on_the_minute(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beat_schedule = {
        "cron": {"task": "tests.add", "schedule": crontab(minute="*/5")}
    }
    clock = FakeClock(T0 + timedelta(minutes=1))
    scheduler = make_scheduler(beatcore_app, clock)
    scheduler.tick()
    clock.set(T0 + timedelta(minutes=4, seconds=59))
    scheduler.tick()
    assert beatcore_recorder.sent == []
    clock.set(T0 + timedelta(minutes=5))
    scheduler.tick()
    assert [occ for _, occ, _ in beatcore_recorder.sent] == [T0 + timedelta(minutes=5)]


def test_crontab_is_evaluated_in_the_entry_time_zone(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    store.save(
        Entry(name="berlin", task="tests.add", schedule=Crontab("0 14 * * *"), tz="Europe/Berlin")
    )
    scheduler.tick()
    clock.set(T0 + timedelta(hours=1))  # 13:00 UTC = 14:00 CET
    scheduler.tick()
    assert [occ for _, occ, _ in beatcore_recorder.sent] == [T0 + timedelta(hours=1)]


def test_entry_saved_while_running_fires_at_next_tick(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    scheduler.tick()
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="dyn", task="tests.add", schedule=Interval(2)))
    clock.advance(2)
    scheduler.tick()
    assert beatcore_recorder.names() == ["dyn"]


def test_disabled_entry_does_not_fire(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="off", task="tests.add", schedule=Interval(1), enabled=False))
    store.save(Entry(name="on", task="tests.add", schedule=Interval(1)))
    for _ in range(3):
        clock.advance(1)
        scheduler.tick()
    assert set(beatcore_recorder.names()) == {"on"}
    store.set_enabled("on", False)
    clock.advance(1)
    scheduler.tick()
    assert beatcore_recorder.names().count("on") == 3


def test_trigger_runs_once_more_without_moving_the_schedule(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="hourly", task="tests.add", schedule=Interval(3600)))
    store.trigger("hourly")
    scheduler.tick()
    assert [occ for _, occ, _ in beatcore_recorder.sent] == [T0]
    state = store.state("hourly")
    assert state.next_run_at == T0 + timedelta(hours=1)
    assert state.triggered_at is None and state.total_run_count == 1


@pytest.mark.parametrize(
    ("policy", "expected_runs", "expected_skipped"),
    [("latest", 1, 9), ("all", 10, 0), ("skip", 0, 10)],
)
def test_catch_up_after_downtime(
    beatcore_app: Celery,
    beatcore_recorder: DispatchRecorder,
    policy: str,
    expected_runs: int,
    expected_skipped: int,
) -> None:
    beatcore_app.conf.beatcore_missed_threshold = 20
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="minutely", task="tests.add", schedule=Interval(60), catch_up=policy))  # type: ignore[arg-type]
    scheduler.tick()
    clock.advance(10 * 60 + 30)  # beat was down: ten occurrences passed, the last 30 s ago
    scheduler.tick()
    runs = [occ for _, occ, _ in beatcore_recorder.sent]
    assert len(runs) == expected_runs
    if policy == "latest":
        assert runs == [T0 + timedelta(minutes=10)]
    state = store.state("minutely")
    assert state.skipped_run_count == expected_skipped
    assert state.total_run_count == expected_runs
    assert state.next_run_at == T0 + timedelta(minutes=11)


def test_misfire_grace_skips_late_runs(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="strict", task="tests.add", schedule=Interval(60), misfire_grace=5))
    clock.advance(70)
    scheduler.tick()
    assert beatcore_recorder.sent == []
    assert [(name, reason) for name, _, reason in beatcore_recorder.skipped] == [
        ("strict", "later than misfire_grace=5s")
    ]
    assert store.state("strict").skipped_run_count == 1


def test_max_runs_and_end_at_stop_an_entry(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="twice", task="tests.add", schedule=Interval(1), max_runs=2))
    store.save(
        Entry(
            name="until", task="tests.add", schedule=Interval(1), end_at=T0 + timedelta(seconds=3)
        )
    )
    for _ in range(6):
        clock.advance(1)
        scheduler.tick()
    assert beatcore_recorder.names().count("twice") == 2
    assert beatcore_recorder.names().count("until") == 3
    assert store.state("twice").next_run_at is None
    assert store.state("until").next_run_at is None


def test_jitter_delays_each_run_deterministically(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    entry = Entry(name="jittery", task="tests.add", schedule=Interval(60), jitter=20)
    store.save(entry)
    occurrence = T0 + timedelta(seconds=60)
    offset = timing.jitter_offset("jittery", occurrence, 20)
    assert timedelta(0) < offset < timedelta(seconds=20)
    clock.set(occurrence + offset - timedelta(milliseconds=1))
    scheduler.tick()
    assert beatcore_recorder.sent == []
    clock.set(occurrence + offset)
    scheduler.tick()
    assert [occ for _, occ, _ in beatcore_recorder.sent] == [occurrence]


def test_second_scheduler_stays_standby_until_lock_lapses(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beat_schedule = {"add": {"task": "tests.add", "schedule": 1.0}}
    beatcore_app.conf.beatcore_lock_ttl = 6
    clock = FakeClock(T0)
    first = make_scheduler(beatcore_app, clock, holder="A")
    second = make_scheduler(beatcore_app, clock, holder="B")
    first.tick()
    for _ in range(3):
        clock.advance(1)
        assert second.tick() == pytest.approx(2.0)  # standby polls every ttl / 3
        first.tick()
    assert (first.is_leader, second.is_leader) == (True, False)
    assert len(beatcore_recorder.sent) == 3
    clock.advance(7)  # A stops ticking (paused); its lease lapses
    second.tick()
    assert second.is_leader
    clock.advance(1)
    first.tick()  # A wakes up: fenced out, sends nothing, steps down
    assert not first.is_leader
    task_ids = [task_id for _, _, task_id in beatcore_recorder.sent]
    assert len(task_ids) == len(set(task_ids))
    assert [(lead, holder) for lead, holder, _ in beatcore_recorder.leadership] == [
        (True, "A"),
        (True, "B"),
        (False, "A"),
    ]


def test_claim_never_acked_is_resent_with_the_same_task_id(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beatcore_lock_ttl = 6
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="job", task="tests.add", schedule=Interval(10)))
    dead = store.lock.acquire("dead-leader", 6)
    assert dead is not None
    clock.advance(10)
    claimed = store.claim_due(dead, clock(), limit=10, reclaim_after=6).claims
    assert [c.entry.name for c in claimed] == ["job"]  # ... and the leader dies here
    survivor = make_scheduler(beatcore_app, clock, holder="B")
    clock.advance(7)
    survivor.tick()
    assert beatcore_recorder.sent == [
        ("job", T0 + timedelta(seconds=10), timing.task_id("job", T0 + timedelta(seconds=10)))
    ]


def test_recovered_occurrence_is_resent_even_when_later_ones_fell_due(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    """catch_up="latest" drops missed occurrences, never the one a dead leader had claimed."""
    beatcore_app.conf.beatcore_lock_ttl = 6
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="job", task="tests.add", schedule=Interval(1)))
    dead = store.lock.acquire("dead-leader", 6)
    assert dead is not None
    clock.advance(1)
    (claim,) = store.claim_due(dead, clock(), limit=10, reclaim_after=6).claims
    claimed_at = claim.state.next_run_at
    assert claimed_at == T0 + timedelta(seconds=1)  # ... and the leader dies here
    survivor = make_scheduler(beatcore_app, clock, holder="B")
    clock.advance(7)
    survivor.tick()
    latest = T0 + timedelta(seconds=8)
    assert beatcore_recorder.sent == [
        ("job", claimed_at, timing.task_id("job", claimed_at)),
        ("job", latest, timing.task_id("job", latest)),
    ]
    assert [occ for _, occ, _ in beatcore_recorder.skipped] == [
        T0 + timedelta(seconds=s) for s in range(2, 8)
    ]


def test_a_raising_listener_never_stops_the_tick(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def beatcore_entry_dispatched(
            self, entry: Entry, occurrence: datetime, task_id: str
        ) -> None:
            raise RuntimeError("listener bug")

    broken = Broken()
    get_plugins().manager.register(broken)
    try:
        clock = FakeClock(T0)
        scheduler = make_scheduler(beatcore_app, clock)
        store = connect(beatcore_app, clock=clock)
        store.save(Entry(name="a", task="tests.add", schedule=Interval(10)))
        scheduler.tick()
        clock.advance(10)
        scheduler.tick()
    finally:
        get_plugins().manager.unregister(broken)
    assert store.in_flight() == [], "the batch must be acked despite the listener"
    assert store.state("a").total_run_count == 1
    assert drain_task_ids(beatcore_app) == [timing.task_id("a", T0 + timedelta(seconds=10))]
    assert any(
        "a listener of beatcore_entry_dispatched raised" in r.getMessage() for r in caplog.records
    )


def test_bad_static_entry_is_skipped_and_keeps_its_history(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    beatcore_app.conf.beat_schedule = {
        "good": {"task": "tests.add", "schedule": 5.0},
        "kept": {"task": "tests.add", "schedule": 5.0},
    }
    clock = FakeClock(T0)
    make_scheduler(beatcore_app, clock)
    beatcore_app.conf.beat_schedule = {
        "good": {"task": "tests.add", "schedule": 5.0},
        "kept": {"task": "tests.add", "schedule": "every day"},
        "bad": {"task": "tests.add", "schedule": crontab(minute="*"), "catch_up": "sometimes"},
    }
    with caplog.at_level("ERROR"):
        make_scheduler(beatcore_app, clock, holder="B")
    store = connect(beatcore_app, clock=clock)
    assert [e.name for e in store.entries()] == ["good", "kept"]
    assert "beat_schedule entry 'bad' skipped" in caplog.text
    assert "catch_up of entry 'bad' must be one of latest, all, skip" in caplog.text


def test_failed_send_is_retried_with_the_same_task_id(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beatcore_dispatch_retry_delay = 3
    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    # An unknown serializer makes kombu's real publish fail.
    store.save(
        Entry(name="flaky", task="tests.add", schedule=Interval(10), options={"serializer": "nope"})
    )
    clock.advance(10)
    scheduler.tick()
    assert [name for name, _, _ in beatcore_recorder.failed] == ["flaky"]
    state = store.state("flaky")
    assert state.next_run_at == T0 + timedelta(seconds=10)
    assert state.last_error is not None and "send failed" in state.last_error
    clock.advance(2)
    scheduler.tick()
    assert len(beatcore_recorder.failed) == 1, "retried before beatcore_dispatch_retry_delay"
    clock.advance(1)
    scheduler.tick()
    assert [name for name, _, _ in beatcore_recorder.failed] == ["flaky", "flaky"]
    store.save(Entry(name="flaky", task="tests.add", schedule=Interval(10)))
    clock.advance(3)
    scheduler.tick()
    assert beatcore_recorder.sent == [
        ("flaky", T0 + timedelta(seconds=10), timing.task_id("flaky", T0 + timedelta(seconds=10)))
    ]
    assert store.state("flaky").last_error is None


def test_close_releases_the_lock_for_a_standby(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    first = make_scheduler(beatcore_app, clock, holder="A")
    first.tick()
    first.close()
    second = make_scheduler(beatcore_app, clock, holder="B")
    second.tick()
    assert second.is_leader
    assert "store -> memory://" in second.info


def test_clock_setting_names_the_clock(beatcore_app: Celery) -> None:
    from beatcore.errors import ConfigurationError
    from beatcore.scheduler import Scheduler

    beatcore_app.conf.beatcore_clock = "beatcore.timeutil.utc_now"
    assert Scheduler(beatcore_app, holder="A").clock() <= datetime.now(UTC)
    beatcore_app.conf.beatcore_clock = "no.such.module:clock"
    with pytest.raises(
        ConfigurationError, match=re.escape("beatcore_clock 'no.such.module:clock'")
    ):
        Scheduler(beatcore_app, holder="B")


def test_store_outage_is_logged_once_and_ticking_resumes(
    beatcore_app: Celery,
    beatcore_recorder: DispatchRecorder,
    beatcore_store_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from beatcore.errors import StoreUnavailable
    from beatcore.scheduler import Scheduler
    from beatcore.stores.memory import MemoryStore

    class UnreachableWhileDown(MemoryStore):
        """The memory store, made to fail the way a store past its own retries does."""

        down = False

        def claim_due(self, *args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable(f"{self.url} is unreachable after 6 attempts")
            return super().claim_due(*args, **kwargs)

    clock = FakeClock(T0)
    store = UnreachableWhileDown(beatcore_store_url.removeprefix("memory://"), clock=clock)
    store.save(Entry(name="a", task="tests.add", schedule=Interval(10)))
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A", store=store)
    scheduler.tick()
    store.down = True
    for _ in range(3):
        clock.advance(10)
        assert scheduler.tick() == pytest.approx(5.0)
    assert beatcore_recorder.sent == []
    outage = [r for r in caplog.records if "is unreachable" in r.getMessage()]
    assert len(outage) == 1 and outage[0].exc_info is None
    store.down = False
    clock.advance(1)
    scheduler.tick()
    assert [name for name, _, _ in beatcore_recorder.sent] == ["a"]
    assert sum("answers again" in r.getMessage() for r in caplog.records) == 1


def test_nothing_is_sent_once_the_tick_outlives_the_lease(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A leader paused mid-batch for longer than the lock TTL must not wake and send."""
    from beatcore.scheduler import Scheduler

    beatcore_app.conf.beatcore_lock_ttl = 30
    clock = FakeClock(T0)
    elapsed = [0.0]

    class PausedAfterFirstSend:
        @hookimpl
        def beatcore_entry_dispatched(self) -> None:
            elapsed[0] += 31  # e.g. SIGSTOP right after the first publish

    scheduler = Scheduler(beatcore_app, clock=clock, holder="A", monotonic=lambda: elapsed[0])
    store = connect(beatcore_app, clock=clock)
    for name in ("a", "b", "c"):
        store.save(Entry(name=name, task="tests.add", schedule=Interval(10)))
    scheduler.tick()
    pause = PausedAfterFirstSend()
    get_plugins().manager.register(pause)
    try:
        clock.advance(10)
        assert scheduler.tick() == 0.0  # the unsent entries are due at once
    finally:
        get_plugins().manager.unregister(pause)
    occurrence = T0 + timedelta(seconds=10)
    assert beatcore_recorder.names() == ["a"]
    assert [store.state(n).next_run_at for n in ("a", "b", "c")] == [
        occurrence + timedelta(seconds=10),
        occurrence,
        occurrence,
    ]
    assert store.state("b").last_error is None
    assert any("2 entries were left unsent" in r.getMessage() for r in caplog.records)
    scheduler.tick()  # still the leader here (the fake store clock did not move): b, c go out
    assert beatcore_recorder.sent[1:] == [
        (name, occurrence, timing.task_id(name, occurrence)) for name in ("b", "c")
    ]


def test_a_graceful_stop_during_a_tick_waits_for_its_ack(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    """celery beat closes the scheduler from its SIGTERM handler; never in the middle of a batch."""
    import os
    import signal
    import threading

    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    store = connect(beatcore_app, clock=clock)
    for name in ("a", "b"):
        store.save(Entry(name=name, task="tests.add", schedule=Interval(10)))
    scheduler.tick()
    seen_by_handler: list[tuple[list[str], int]] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        seen_by_handler.append((beatcore_recorder.names(), len(store.in_flight())))

    class StopRequestedMidBatch:
        @hookimpl
        def beatcore_entry_dispatched(self) -> None:
            if not seen_by_handler:
                os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    stopper = StopRequestedMidBatch()
    get_plugins().manager.register(stopper)
    # Another live thread, as a real process has: a process-directed signal may be delivered
    # through it, so holding signals back in the main thread alone would not do.
    other_thread_may_exit = threading.Event()
    other = threading.Thread(target=other_thread_may_exit.wait, daemon=True)
    other.start()
    try:
        clock.advance(10)
        scheduler.tick()
    finally:
        other_thread_may_exit.set()
        get_plugins().manager.unregister(stopper)
        signal.signal(signal.SIGTERM, previous)
    assert seen_by_handler == [(["a", "b"], 0)], "the handler ran before the batch was acked"


def test_a_slow_batch_renews_its_lease_and_sends_everything(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    """A broker slow enough that a batch outlasts the TTL: renewing keeps the batch whole."""
    from beatcore.scheduler import Scheduler

    beatcore_app.conf.beatcore_lock_ttl = 30
    clock = FakeClock(T0)
    elapsed = [0.0]

    class SlowBroker:
        @hookimpl
        def beatcore_entry_dispatched(self) -> None:
            elapsed[0] += 20

    scheduler = Scheduler(beatcore_app, clock=clock, holder="A", monotonic=lambda: elapsed[0])
    store = connect(beatcore_app, clock=clock)
    names = [f"e{i}" for i in range(5)]
    for name in names:
        store.save(Entry(name=name, task="tests.add", schedule=Interval(10)))
    scheduler.tick()
    slow = SlowBroker()
    get_plugins().manager.register(slow)
    try:
        clock.advance(10)
        scheduler.tick()
    finally:
        get_plugins().manager.unregister(slow)
    assert beatcore_recorder.names() == names
    assert store.in_flight() == []
    assert all(store.state(n).total_run_count == 1 for n in names)


def test_a_batch_stops_when_renewing_finds_another_leader(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    from beatcore.scheduler import Scheduler

    beatcore_app.conf.beatcore_lock_ttl = 30
    clock = FakeClock(T0)
    elapsed = [0.0]
    store = connect(beatcore_app, clock=clock)

    class PausedLongEnoughToBeReplaced:
        @hookimpl
        def beatcore_entry_dispatched(self) -> None:
            if elapsed[0] == 0:
                elapsed[0] += 20  # past half the lease: the next send renews first
                clock.advance(31)  # ... and on the store's clock the lease has lapsed
                assert store.lock.acquire("B", 30) is not None

    scheduler = Scheduler(beatcore_app, clock=clock, holder="A", monotonic=lambda: elapsed[0])
    for name in ("a", "b", "c"):
        store.save(Entry(name=name, task="tests.add", schedule=Interval(10)))
    scheduler.tick()
    replaced = PausedLongEnoughToBeReplaced()
    get_plugins().manager.register(replaced)
    try:
        clock.advance(10)
        scheduler.tick()
    finally:
        get_plugins().manager.unregister(replaced)
    assert beatcore_recorder.names() == ["a"]
    assert not scheduler.is_leader


def test_a_tick_leaves_the_garbage_collector_as_it_found_it(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    import gc

    seen_during_send: list[bool] = []

    class SeesTheCollector:
        @hookimpl
        def beatcore_entry_dispatched(self) -> None:
            seen_during_send.append(gc.isenabled())

    clock = FakeClock(T0)
    scheduler = make_scheduler(beatcore_app, clock)
    connect(beatcore_app, clock=clock).save(
        Entry(name="a", task="tests.add", schedule=Interval(10))
    )
    scheduler.tick()
    listener = SeesTheCollector()
    get_plugins().manager.register(listener)
    try:
        clock.advance(10)
        scheduler.tick()
        assert gc.isenabled()
        gc.disable()
        try:
            clock.advance(10)
            scheduler.tick()
            assert not gc.isenabled(), "a collector the application turned off stays off"
        finally:
            gc.enable()
    finally:
        get_plugins().manager.unregister(listener)
    assert seen_during_send == [False, False]


def test_no_broker_connection_fails_the_sends_and_still_acks(
    beatcore_store_url: str, beatcore_recorder: DispatchRecorder
) -> None:
    """Celery gives up connecting to the broker: every due entry is a failed send (retried
    after the delay, same task id), not a claim left in flight until it is reclaimed."""
    from beatcore.scheduler import Scheduler
    from beatcore.testing import memory_broker_app
    from tests.support.redis_servers import free_port

    app = memory_broker_app(
        beatcore_store_url,
        broker_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        broker_connection_max_retries=1,
        beatcore_dispatch_retry_delay=3,
    )
    clock = FakeClock(T0)
    store = connect(app, clock=clock)
    for name in ("a", "b"):
        store.save(Entry(name=name, task="tests.add", schedule=Interval(10)))
    scheduler = Scheduler(app, clock=clock, holder="A")
    scheduler.tick()
    clock.advance(10)
    assert scheduler.tick() == pytest.approx(3.0)
    occurrence = T0 + timedelta(seconds=10)
    assert beatcore_recorder.failed and {name for name, _, _ in beatcore_recorder.failed} == {
        "a",
        "b",
    }
    assert store.in_flight() == []
    state = store.state("a")
    assert state.next_run_at == occurrence
    assert state.last_error is not None and state.last_error.startswith("send failed: ")
