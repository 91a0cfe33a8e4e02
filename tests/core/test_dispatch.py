"""beatcore.dispatch: what a tick does with its claimed entries, driven with an injected clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest
from celery import Celery

from beatcore import Entry, Interval, connect, hookimpl
from beatcore.plugins import get_plugins
from beatcore.testing import DispatchRecorder, FakeClock
from beatcore.timeutil import UTC
from beatcore.timing import MAX_ENUMERATED_OCCURRENCES, Skipped

from .conftest import make_scheduler

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class CountingListener:
    """Counts the calls of both skip hooks (the batch one and the deprecated one)."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int]] = []
        self.single = 0

    @hookimpl
    def beatcore_occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        self.batches.append((entry.name, len(skipped)))

    @hookimpl
    def beatcore_occurrence_skipped(self) -> None:
        self.single += 1


@pytest.fixture
def counting() -> Iterator[CountingListener]:
    listener = CountingListener()
    with pytest.warns(DeprecationWarning):
        get_plugins().manager.register(listener)
    try:
        yield listener
    finally:
        get_plugins().manager.unregister(listener)


def skip_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith("beatcore: skipped")
    ]


def test_catch_up_after_hours_down_logs_and_calls_once_per_entry(
    beatcore_app: Celery,
    beatcore_recorder: DispatchRecorder,
    counting: CountingListener,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Five 1-second entries, beat down for three hours: one tick, five lines, five calls."""
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    names = [f"every-second-{i}" for i in range(5)]
    for name in names:
        store.save(Entry(name=name, task="tests.add", schedule=Interval(1)))
    scheduler = make_scheduler(beatcore_app, clock)
    clock.advance(3 * 3600)
    with caplog.at_level(logging.WARNING, logger="beatcore"):
        scheduler.tick()

    per_entry = MAX_ENUMERATED_OCCURRENCES - 1  # walked one by one; the latest one runs
    assert len(beatcore_recorder.sent) == 5
    assert counting.batches == [(name, per_entry) for name in names]
    assert counting.single == 5, "the deprecated hook hears once per entry, not per occurrence"
    assert len(beatcore_recorder.skipped) == 5 * per_entry
    first, last = T0 + SECOND, T0 + per_entry * SECOND
    assert skip_lines(caplog) == [
        f"beatcore: skipped {per_entry} occurrences of entry {name!r}, the first "
        f"{first.isoformat()}, the last {last.isoformat()}: missed, catch_up=latest"
        for name in names
    ]
    for name in names:
        state = store.state(name)
        assert (state.skipped_run_count, state.total_run_count) == (per_entry, 1)


def test_one_skipped_occurrence_keeps_its_one_line(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="strict", task="tests.add", schedule=Interval(60), misfire_grace=5))
    scheduler = make_scheduler(beatcore_app, clock)
    clock.advance(70)
    scheduler.tick()
    occurrence = T0 + 60 * SECOND
    assert skip_lines(caplog) == [
        f"beatcore: skipped {occurrence.isoformat()} of entry 'strict': later than misfire_grace=5s"
    ]


def test_skips_for_different_reasons_are_counted_by_reason_in_one_line(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="graced", task="tests.add", schedule=Interval(60), misfire_grace=5))
    scheduler = make_scheduler(beatcore_app, clock)
    clock.advance(10 * 60 + 30)  # ten missed; the latest is 30 s late, over its grace
    scheduler.tick()
    assert beatcore_recorder.sent == []
    assert skip_lines(caplog) == [
        "beatcore: skipped 10 occurrences of entry 'graced', the first "
        f"{(T0 + 60 * SECOND).isoformat()}, the last {(T0 + 600 * SECOND).isoformat()}: "
        "9 missed, catch_up=latest; 1 later than misfire_grace=5s"
    ]
    assert store.state("graced").skipped_run_count == 10
