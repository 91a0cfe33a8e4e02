"""The overlap policy per entry (allow, skip, buffer_one) on a real Scheduler with an injected
clock, on the memory store and on a SQLite file; the worker's reports are made as a worker
makes them (Store.record_outcome), so no worker runs here (tests/e2e has the real one)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery

from beatcore import Entry, Interval, InvalidEntry, connect, timing
from beatcore.entry import OVERLAP_POLICIES
from beatcore.overlap import RunLimits, check_tracking
from beatcore.record_text import ENTRY_OMITTED_DEFAULTS, stored_dict
from beatcore.scheduler import Scheduler
from beatcore.serializer import dumps_entry, entry_to_dict, loads_entry
from beatcore.store import RunOutcome, Store
from beatcore.testing import DispatchRecorder, FakeClock
from beatcore.timeutil import UTC

from .test_history import CountingStore

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["memory", "sqlite"])
def app(request: pytest.FixtureRequest, beatcore_app: Celery, tmp_path: Path) -> Celery:
    """The test app with run tracking on, on a memory store, then on a SQLite file."""
    if request.param == "sqlite":
        beatcore_app.conf.beatcore_url = f"sqlite:///{tmp_path / 'overlap.sqlite3'}"
    beatcore_app.conf.beatcore_track_runs = True
    return beatcore_app


def ended(store: Store, seconds: float, occurrence: float, status: str = "succeeded") -> None:
    """The worker's report that the run of ``occurrence`` (T0 + s) of ``a`` ended."""
    occ = at(occurrence)
    store.record_outcome(
        RunOutcome("a", occ, timing.task_id("a", occ), status, at(seconds), runtime=1.0)
    )


def outcomes(store: Store) -> list[tuple[float, str]]:
    """The history of ``a`` in the order it was written, as (seconds after T0, outcome)."""
    return [((r.occurrence - T0).total_seconds(), r.outcome) for r in reversed(store.history("a"))]


def start(app: Celery, clock: FakeClock, **fields: object) -> tuple[Store, Scheduler]:
    store = connect(app, clock=clock)
    store.save(Entry(name="a", task="tests.add", schedule=Interval(10), **fields))  # type: ignore[arg-type]
    scheduler = Scheduler(app, clock=clock, holder="A")
    scheduler.tick()  # takes the lock
    return store, scheduler


def tick_at(scheduler: Scheduler, clock: FakeClock, seconds: float) -> None:
    clock.set(at(seconds))
    scheduler.tick()


def test_skip_skips_what_is_due_while_the_run_is_still_running(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store, scheduler = start(app, clock, overlap="skip")
    tick_at(scheduler, clock, 10)  # 10 sent
    tick_at(scheduler, clock, 20)  # 20 skipped: 10 still runs
    ended(store, 25, 10)
    tick_at(scheduler, clock, 30)  # 30 sent
    assert outcomes(store) == [(10, "sent"), (20, "skipped"), (30, "sent")]
    skipped = store.history("a")[1]
    assert skipped.detail is not None and "still running, overlap=skip" in skipped.detail
    assert timing.task_id("a", at(10)) in skipped.detail
    assert store.state("a").skipped_run_count == 1
    assert [(name, occ) for name, occ, _ in beatcore_recorder.skipped] == [("a", at(20))]
    assert store.history("a")[2].status == "succeeded"


def test_buffer_one_holds_one_and_sends_it_when_the_run_ends(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store, scheduler = start(app, clock, overlap="buffer_one")
    tick_at(scheduler, clock, 10)  # 10 sent
    tick_at(scheduler, clock, 20)  # 20 held
    tick_at(scheduler, clock, 30)  # 30 skipped: 20 already waits
    assert outcomes(store) == [(10, "sent"), (30, "skipped")]
    assert "already waiting" in (store.history("a")[0].detail or "")
    ended(store, 33, 10)
    lease = scheduler.lease
    assert lease is not None
    # the end made the entry due at once, store side: a claim at 33 takes it
    clock.set(at(33))
    scheduler.tick()
    assert outcomes(store) == [(10, "sent"), (30, "skipped"), (20, "sent")]
    released = store.history("a")[0]
    assert released.occurrence == at(20) and released.lateness == pytest.approx(13)
    tick_at(scheduler, clock, 40)  # 40 held: 20 runs
    ended(store, 41, 20, "failed")
    tick_at(scheduler, clock, 41)
    assert outcomes(store)[-1] == (40, "sent")
    assert store.history("a")[1].status == "failed"
    assert beatcore_recorder.names() == ["a"] * 3


def test_a_run_that_never_reports_back_stops_blocking_after_overlap_timeout(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store, scheduler = start(app, clock, overlap="buffer_one", overlap_timeout=15)
    tick_at(scheduler, clock, 10)  # 10 sent, blocks until 25 unless it reports
    tick_at(scheduler, clock, 20)  # 20 held
    assert store.state("a").next_run_at == at(30)
    tick_at(scheduler, clock, 25)  # due at the timeout: 20 released
    assert outcomes(store) == [(10, "sent"), (20, "sent")]


def test_a_start_report_moves_the_timeout_to_the_start(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store, scheduler = start(app, clock, overlap="skip", overlap_timeout=15)
    tick_at(scheduler, clock, 10)
    occ = at(10)
    store.record_outcome(RunOutcome("a", occ, timing.task_id("a", occ), "started", at(19)))
    tick_at(scheduler, clock, 20)
    tick_at(scheduler, clock, 30)  # 19 + 15 = 34: still blocks (without the start: 25)
    tick_at(scheduler, clock, 40)
    assert outcomes(store) == [(10, "sent"), (20, "skipped"), (30, "skipped"), (40, "sent")]


def test_allow_sends_whatever_runs(app: Celery, beatcore_recorder: DispatchRecorder) -> None:
    clock = FakeClock(T0)
    store, scheduler = start(app, clock)
    for second in (10, 20, 30):
        tick_at(scheduler, clock, second)
    assert outcomes(store) == [(10, "sent"), (20, "sent"), (30, "sent")]


def test_a_trigger_is_sent_while_a_run_blocks(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store, scheduler = start(app, clock, overlap="skip")
    tick_at(scheduler, clock, 10)
    store.trigger("a", at(12))
    tick_at(scheduler, clock, 12)
    assert outcomes(store) == [(10, "sent"), (12, "sent")]


def test_catch_up_all_sends_one_and_skips_the_rest(
    app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store, scheduler = start(app, clock, overlap="buffer_one", catch_up="all")
    tick_at(scheduler, clock, 40)  # 10, 20, 30, 40 due at once: 10 sent, 20 held
    assert outcomes(store) == [(10, "sent"), (30, "skipped"), (40, "skipped")]
    ended(store, 41, 10)
    tick_at(scheduler, clock, 41)
    assert outcomes(store)[-1] == (20, "sent")


@pytest.mark.parametrize("due", [1, 50])
def test_the_policy_costs_no_store_call_of_its_own(
    app: Celery, beatcore_recorder: DispatchRecorder, due: int
) -> None:
    """With every entry under a policy, a tick of k due entries is still a claim and an ack."""
    clock = FakeClock(T0)
    counting = CountingStore(connect(app, clock=clock))
    for i in range(due):
        counting.save(
            Entry(name=f"e{i:02d}", task="tests.add", schedule=Interval(10), overlap="skip")
        )
    scheduler = Scheduler(app, clock=clock, holder="A", store=counting)  # type: ignore[arg-type]
    scheduler.tick()
    for second in (10, 20):
        counting.calls.clear()
        tick_at(scheduler, clock, second)
        assert counting.calls == ["claim_due", "ack_stream"]
    assert all(
        [r.outcome for r in counting.history(f"e{i:02d}")] == ["skipped", "sent"]
        for i in range(due)
    )


def test_a_policy_needs_run_tracking_at_save(beatcore_app: Celery) -> None:
    """The static sync refuses (logs and keeps out) an entry with a policy while
    beatcore_track_runs is off; the error names both settings."""
    entry = Entry(name="a", task="t", schedule=Interval(10), overlap="skip")
    with pytest.raises(InvalidEntry, match=r"overlap='skip'.*beatcore_track_runs = True"):
        check_tracking(entry, False, True, "memory://")
    with pytest.raises(InvalidEntry, match=r"records worker outcomes"):
        check_tracking(entry, True, False, "redis://h")
    check_tracking(entry.evolve(overlap="allow"), False, False, "redis://h")
    beatcore_app.conf.beat_schedule = {
        "slow": {"task": "tests.add", "schedule": 10, "overlap": "buffer_one"},
        "plain": {"task": "tests.add", "schedule": 10},
    }
    scheduler = Scheduler(beatcore_app, clock=FakeClock(T0), holder="A")
    scheduler.setup_schedule()
    assert [e.name for e in scheduler.store.entries()] == ["plain"]
    beatcore_app.conf.beatcore_track_runs = True
    Scheduler(beatcore_app, clock=FakeClock(T0), holder="A").setup_schedule()
    assert [e.name for e in scheduler.store.entries()] == ["plain", "slow"]


def test_overlap_fields_round_trip_and_old_records_read_as_allow() -> None:
    old = '{"v":1,"name":"a","task":"t","schedule":{"type":"interval","every":60.0}}'
    entry = loads_entry(old, "a")
    assert (entry.overlap, entry.overlap_timeout) == ("allow", None)
    assert "overlap" not in dumps_entry(entry), "a default entry's record is as before"
    for policy in OVERLAP_POLICIES:
        changed = entry.evolve(overlap=policy, overlap_timeout=90)
        text = dumps_entry(changed)
        assert loads_entry(text, "a") == changed
        stored = stored_dict(entry_to_dict(changed), ENTRY_OMITTED_DEFAULTS)
        assert text == json.dumps(stored, sort_keys=True, separators=(",", ":"))
    with pytest.raises(InvalidEntry, match="overlap of entry 'a' must be one of"):
        entry.evolve(overlap="queue")
    with pytest.raises(InvalidEntry, match="overlap_timeout of entry 'a'"):
        entry.evolve(overlap_timeout=0)


def test_run_limits_take_the_entry_then_the_task_then_the_default(beatcore_app: Celery) -> None:
    limits = RunLimits(beatcore_app, 3600)
    entry = Entry(name="a", task="tests.add", schedule=Interval(10))
    assert limits.limit(entry) == 3600
    assert limits.limit(entry.evolve(options={"time_limit": 30})) == 30
    assert limits.limit(entry.evolve(overlap_timeout=7, options={"time_limit": 30})) == 7
    beatcore_app.conf.task_time_limit = 120
    assert RunLimits(beatcore_app, 3600).limit(entry) == 120
    assert RunLimits(None, 60).limit(entry.evolve(task="unknown")) == 60


def test_a_policy_saved_past_the_refusal_acts_as_allow_without_tracking(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry saved with a policy through the store itself while tracking is off: no run
    would ever report its end, so beat sends as with allow (and says so once)."""
    clock = FakeClock(T0)
    store, scheduler = start(beatcore_app, clock, overlap="skip")
    for second in (10, 20, 30):
        tick_at(scheduler, clock, second)
    assert outcomes(store) == [(10, "sent"), (20, "sent"), (30, "sent")]
    warned = [r for r in caplog.records if "beatcore_track_runs is off" in r.getMessage()]
    assert len(warned) == 1
