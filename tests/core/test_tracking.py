"""The worker side of run tracking: Celery's real task signals (tasks run in process with
``apply``, which sends them as a worker does), beat's real headers, a memory store."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery import Celery, signals

from beatcore import Entry, Interval, StoreUnavailable, connect, timing, tracking
from beatcore.publisher import ENTRY_HEADER, OCCURRENCE_HEADER
from beatcore.scheduler import Scheduler
from beatcore.store import RunOutcome, Store
from beatcore.testing import DispatchRecorder, FakeClock, forget_memory_schedule
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
OCC = T0 + timedelta(seconds=10)


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery(f"tracking-{uuid.uuid4().hex[:8]}", broker="memory://", set_as_current=False)
    url = f"memory://tracking-{uuid.uuid4()}"
    app.conf.update(beatcore_url=url, beatcore_track_runs=True, timezone="UTC")
    ticks = Ticks()

    @app.task(name="tests.work", bind=True, shared=False)  # type: ignore[untyped-decorator]
    def work(self: Any, how: str = "ok") -> str:
        ticks.now += 2.5
        if how == "fail":
            raise ValueError("cannot reach postgresql://app:s3cret@db/prod")
        if how == "retry" and self.request.retries < 1:
            raise self.retry(countdown=0, exc=KeyError("later"))
        return how

    app.ticks = ticks  # type: ignore[attr-defined]
    yield app
    forget_memory_schedule(url.removeprefix("memory://"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(OCC)


@pytest.fixture
def tracker(app: Celery, clock: FakeClock) -> Iterator[tracking.Tracker]:
    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(connect(app, clock=clock))
        return opened[-1]

    tracker = tracking.Tracker(
        app, open_store=open_store, clock=clock, monotonic=app.ticks, hostname="w1"
    )
    tracker.opened = opened  # type: ignore[attr-defined]
    tracker.connect()
    yield tracker
    tracker.disconnect()


def sent_by_beat(app: Celery, clock: FakeClock, beatcore_recorder: DispatchRecorder) -> Store:
    """Save ``a`` (tests.work every 10 s) and let a real scheduler send its occurrence OCC."""
    clock.set(T0)
    store = connect(app, clock=clock)
    store.save(Entry(name="a", task="tests.work", schedule=Interval(10), args=("x",)))
    scheduler = Scheduler(app, clock=clock, holder="A")
    scheduler.tick()
    clock.set(OCC)
    scheduler.tick()
    assert beatcore_recorder.names() == ["a"]
    return store


def run(app: Celery, how: str) -> Any:
    """Run tests.work as the worker would run beat's message of OCC."""
    headers = {ENTRY_HEADER: "a", OCCURRENCE_HEADER: OCC.isoformat()}
    task = app.tasks["tests.work"]
    return task.apply((how,), task_id=timing.task_id("a", OCC), headers=headers)


def test_a_run_beat_sent_gets_started_succeeded_and_its_runtime(
    app: Celery, clock: FakeClock, tracker: tracking.Tracker, beatcore_recorder: DispatchRecorder
) -> None:
    store = sent_by_beat(app, clock, beatcore_recorder)
    assert run(app, "ok").get() == "ok"
    (record,) = store.history("a")
    assert (record.outcome, record.status, record.runtime, record.worker) == (
        "sent",
        "succeeded",
        2.5,
        "w1",
    )
    assert record.started_at == record.finished_at == OCC
    assert tracker.reports == 2, "one store call when it starts, one when it ends"


def test_a_failed_run_keeps_the_exception_type_and_message_without_the_password(
    app: Celery, clock: FakeClock, tracker: tracking.Tracker, beatcore_recorder: DispatchRecorder
) -> None:
    store = sent_by_beat(app, clock, beatcore_recorder)
    run(app, "fail")
    (record,) = store.history("a")
    assert record.status == "failed"
    assert record.error == "ValueError: cannot reach postgresql://app:****@db/prod"


def test_a_retried_run_counts_its_retries(
    app: Celery, clock: FakeClock, tracker: tracking.Tracker, beatcore_recorder: DispatchRecorder
) -> None:
    store = sent_by_beat(app, clock, beatcore_recorder)
    run(app, "retry")
    (record,) = store.history("a")
    assert (record.status, record.retries) == ("succeeded", 1)
    assert tracker.reports == 4


def test_a_task_beat_did_not_send_is_never_touched(app: Celery, tracker: tracking.Tracker) -> None:
    app.tasks["tests.work"].apply(("ok",))
    app.tasks["tests.work"].apply(("ok",), headers={ENTRY_HEADER: "a"})
    bad = {ENTRY_HEADER: "a", OCCURRENCE_HEADER: "yesterday"}
    app.tasks["tests.work"].apply(("fail",), headers=bad)
    assert tracker.reports == 0
    assert tracker.opened == [], "the store is not even opened"  # type: ignore[attr-defined]


def test_a_store_outage_never_fails_the_task_and_is_logged_once_a_minute(
    app: Celery, caplog: pytest.LogCaptureFixture
) -> None:
    class Down:
        calls = 0

        def record_outcome(self, outcome: RunOutcome) -> None:
            Down.calls += 1
            raise StoreUnavailable("redis://:hunter2@cache:6379/0 is down")

        url = "redis://cache:6379/0"

        def close(self) -> None:
            pass

    ticks = Ticks()
    tracker = tracking.Tracker(app, open_store=lambda: Down(), monotonic=ticks)  # type: ignore[arg-type,return-value]
    tracker.connect()
    try:
        with caplog.at_level(logging.WARNING, logger="beatcore.tracking"):
            assert run(app, "ok").get() == "ok"
            assert run(app, "fail").failed()
            ticks.now += tracking.OUTAGE_LOG_INTERVAL + 1
            run(app, "ok")
    finally:
        tracker.disconnect()
    assert Down.calls == 6
    lines = [r.getMessage() for r in caplog.records if r.name == "beatcore.tracking"]
    assert len(lines) == 2, lines
    assert "hunter2" not in " ".join(lines) and "could not be stored" in lines[0]


def test_the_store_is_opened_again_in_a_forked_process(
    app: Celery, clock: FakeClock, tracker: tracking.Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(app, "ok")
    assert len(tracker.opened) == 1  # type: ignore[attr-defined]
    monkeypatch.setattr(tracking.os, "getpid", lambda: -1)
    run(app, "ok")
    assert len(tracker.opened) == 2  # type: ignore[attr-defined]


def _connected() -> list[str]:
    uids = [key[0] for key, _ in signals.task_prerun.receivers]
    return [uid for uid in uids if isinstance(uid, str) and uid.startswith("beatcore.")]


def test_the_worker_connects_task_handlers_only_with_the_setting_on(app: Celery) -> None:
    class Worker:
        def __init__(self, app: Celery) -> None:
            self.app = app

    tracking.install()
    tracking.install()
    assert [k[0] for k, _ in signals.worker_init.receivers].count("beatcore.tracking") == 1
    app.conf.beatcore_track_runs = False
    signals.worker_init.send(sender=Worker(app))
    assert _connected() == []
    app.conf.beatcore_track_runs = True
    signals.worker_init.send(sender=Worker(app))
    try:
        assert _connected() == ["beatcore.tracking.on_prerun"]
    finally:
        assert tracking._TRACKER is not None
        tracking._TRACKER.disconnect()
    assert _connected() == []


def test_celery_imports_the_install_with_beatcores_command() -> None:
    import beatcore.cli  # what the celery.commands entry point loads

    assert beatcore.cli is not None
    assert "beatcore.tracking" in [k[0] for k, _ in signals.worker_init.receivers]


def test_error_text_is_bounded_and_printable() -> None:
    text = tracking.error_text(RuntimeError("x" * 2000 + "\n"))
    assert len(text) == tracking.ERROR_LIMIT
    assert tracking.error_text(RuntimeError("line\nbreak")) == "'RuntimeError: line\\nbreak'"
    assert tracking.error_text(KeyError()) == "KeyError"
    assert tracking.error_text(None, "retry") == "retry"
