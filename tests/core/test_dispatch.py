"""beatcore.dispatch: what a tick does with its claimed entries, driven with an injected clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery import Celery

from beatcore import Entry, EntryState, Interval, connect, hookimpl, timing
from beatcore.dispatch import ClaimDispatcher
from beatcore.listeners import Listeners
from beatcore.plugins import get_plugins
from beatcore.publisher import Publisher
from beatcore.runs import skipped_count
from beatcore.send_window import SendWindow
from beatcore.settings import Settings
from beatcore.store import Claim
from beatcore.testing import DispatchRecorder, FakeClock
from beatcore.timeutil import UTC
from beatcore.timing import MAX_ENUMERATED_OCCURRENCES, Skipped

from .conftest import make_scheduler
from .fake_broker import Elapsed, FakeProducer, fake_publisher

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class CountingListener:
    """Counts the calls of both skip hooks (the batch one and the deprecated one)."""

    def __init__(self) -> None:
        #: (entry name, occurrences listed, occurrences they stand for) of each batch call.
        self.batches: list[tuple[str, int, int]] = []
        self.single = 0

    @hookimpl
    def beatcore_occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        self.batches.append((entry.name, len(skipped), skipped_count(skipped)))

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

    per_entry = 3 * 3600 - 1  # every missed second but the latest, which runs
    # The first MAX_ENUMERATED_OCCURRENCES are listed one by one and the last one skipped,
    # the rest only counted.
    listed = MAX_ENUMERATED_OCCURRENCES + 1
    assert [(name, occ) for name, occ, _ in beatcore_recorder.sent] == [
        (name, T0 + 3 * 3600 * SECOND) for name in names
    ]
    assert counting.batches == [(name, listed, per_entry) for name in names]
    assert counting.single == 5, "the deprecated hook hears once per entry, not per occurrence"
    assert len(beatcore_recorder.skipped) == 5 * listed
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


# -- the dispatcher on a fake broker -------------------------------------------------------

NOW = T0 + 10 * SECOND
RETRY = 3.0


def dispatcher(publisher: Publisher, flush_every: int = 100) -> ClaimDispatcher:
    settings = Settings(url="memory://", publish_batch_size=flush_every, dispatch_retry_delay=RETRY)
    return ClaimDispatcher(
        settings, timing.CatchUpSettings(), publisher, Listeners(get_plugins()), FakeClock(NOW)
    )


def claim(name: str, *, last_error: str | None = None, **fields: Any) -> Claim:
    entry = Entry(name=name, task="tasks.unknown", schedule=Interval(10), **fields)
    return Claim(entry, EntryState(next_run_at=NOW, last_error=last_error))


def test_due_entries_go_out_in_batches_and_each_ack_says_when_next(
    window: SendWindow, beatcore_recorder: DispatchRecorder
) -> None:
    producer = FakeProducer()
    publisher, _ = fake_publisher(producer)
    claims = [claim(f"e{i:03d}") for i in range(250)] + [claim("jittery", jitter=5)]
    acks = dispatcher(publisher).dispatch(claims, NOW, window)
    assert [len(write) for write in producer.writes] == [100, 100, 51]
    assert producer.sent == [timing.task_id(c.entry.name, NOW) for c in claims]
    assert len(beatcore_recorder.sent) == 251
    following = NOW + 10 * SECOND
    for ack in acks[:-1]:
        assert ack.state.next_run_at == following and ack.due_at == following
        assert ack.state.total_run_count == 1
        assert ack.state.last_task_id == timing.task_id(ack.name, NOW)
    jittery = acks[-1]
    assert jittery.due_at == following + timing.jitter_offset("jittery", following, 5)


def test_a_failed_send_is_retried_after_the_delay_in_a_write_of_its_own(
    window: SendWindow, beatcore_recorder: DispatchRecorder
) -> None:
    producer = FakeProducer()
    publisher, beat = fake_publisher(producer)
    beat.refused.add("tasks.refused")
    refused = claim("refused")
    refused = Claim(refused.entry.evolve(task="tasks.refused"), refused.state)
    acks = dispatcher(publisher).dispatch([claim("a"), refused, claim("b")], NOW, window)
    ack = acks[1]
    assert ack.due_at == NOW + timedelta(seconds=RETRY)
    assert ack.state.next_run_at == NOW and ack.state.total_run_count == 0
    assert ack.state.last_error == "send failed: queue of tasks.refused holds a string"
    assert [name for name, _, _ in beatcore_recorder.failed] == ["refused"]

    retried = Claim(refused.entry.evolve(task="tasks.unknown"), ack.state)
    producer.writes.clear()
    acks = dispatcher(publisher).dispatch([claim("c"), retried, claim("d")], NOW, window)
    c, r, d = (timing.task_id(name, NOW) for name in ("c", "refused", "d"))
    assert producer.writes == [[c], [r], [d]]
    assert acks[1].state.last_error is None and acks[1].state.total_run_count == 1


def test_with_no_broker_connection_every_entry_fails_once_and_is_acked(
    window: SendWindow, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    publisher, _ = fake_publisher(FakeProducer(), unreachable=True)
    late = Claim(
        Entry(name="all", task="tasks.unknown", schedule=Interval(1), catch_up="all"),
        EntryState(next_run_at=NOW - 2 * SECOND),
    )
    acks = dispatcher(publisher).dispatch([claim("a"), late], NOW, window)
    assert [(name, occurrence) for name, occurrence, _ in beatcore_recorder.failed] == [
        ("a", NOW),
        ("all", NOW - 2 * SECOND),
    ]
    for ack in acks:
        assert ack.due_at == NOW + timedelta(seconds=RETRY)
        assert ack.state.next_run_at == ack.claimed.next_run_at
        assert str(ack.state.last_error).startswith("send failed: Connection refused")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "beatcore: no connection to the broker: Connection refused (gave up after 1 retry); "
        "2 entries retry in 3.0s with the same task ids"
    ]


def test_entries_left_unsent_when_the_window_closes_mid_batch_are_due_at_once(
    window: SendWindow,
    elapsed: Elapsed,
    beatcore_recorder: DispatchRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = FakeProducer(batches=False)
    publisher, beat = fake_publisher(producer)

    def paused(task_id: str) -> None:
        elapsed.seconds = 31  # e.g. SIGSTOP right after the first publish

    beat.after_publish = paused
    triggered = Claim(claim("c").entry, EntryState(next_run_at=NOW + 5 * SECOND, triggered_at=NOW))
    acks = dispatcher(publisher).dispatch([claim("a"), claim("b"), triggered], NOW, window)
    assert beatcore_recorder.names() == ["a"]
    assert [ack.due_at for ack in acks] == [NOW + 10 * SECOND, NOW, NOW]
    assert acks[1].state == acks[1].claimed, "untried: the state is what the claim returned"
    assert acks[2].state.triggered_at == NOW and acks[2].state.next_run_at == NOW + 5 * SECOND
    assert any("2 entries were left unsent" in r.getMessage() for r in caplog.records)


def test_the_stream_yields_each_ack_once_its_entry_is_written(
    window: SendWindow, beatcore_recorder: DispatchRecorder
) -> None:
    """dispatch_stream yields an entry's ack after the write that carried its message and
    before the next write: a store acks the first entries while the rest is being sent."""
    producer = FakeProducer()
    publisher, _ = fake_publisher(producer)
    claims = [claim(f"e{i:03d}") for i in range(250)]
    writes_seen = []
    for ack in dispatcher(publisher).dispatch_stream(claims, NOW, window):
        writes_seen.append((ack.name, len(producer.writes)))
    assert [name for name, _ in writes_seen] == [c.entry.name for c in claims]
    # entries 0-99 went in the first write, 100-199 in the second, the rest in the third
    assert [writes for _, writes in writes_seen] == [1] * 100 + [2] * 100 + [3] * 50
    assert writes_seen and producer.sent == [timing.task_id(c.entry.name, NOW) for c in claims]


def test_a_stream_closed_early_writes_nothing_more(
    window: SendWindow, beatcore_recorder: DispatchRecorder
) -> None:
    """A consumer that stops after the first ack (its store failed) leaves the buffered
    messages unwritten: those entries stay in flight, as after a crash."""
    producer = FakeProducer()
    publisher, _ = fake_publisher(producer)
    stream = dispatcher(publisher).dispatch_stream(
        [claim(f"e{i:03d}") for i in range(250)], NOW, window
    )
    first = next(stream)
    stream.close()
    assert first.name == "e000"
    assert [len(write) for write in producer.writes] == [100]
    assert len(beatcore_recorder.sent) == 100


def test_the_messages_of_one_write_share_the_instant_it_was_written(
    window: SendWindow, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """One write carries a batch: its messages' run records say the same sent_at (the clock
    read once, right after the write), and each write its own."""
    caplog.set_level(logging.WARNING, logger="beatcore.scheduler")  # no INFO line's clock read
    reads: list[datetime] = []

    def clock() -> datetime:
        reads.append(NOW + len(reads) * timedelta(milliseconds=1))
        return reads[-1]

    producer = FakeProducer()
    publisher, _ = fake_publisher(producer)
    settings = Settings(url="memory://", publish_batch_size=100, dispatch_retry_delay=RETRY)
    claims = [claim(f"e{i:03d}") for i in range(250)]
    acks = ClaimDispatcher(
        settings, timing.CatchUpSettings(), publisher, Listeners(get_plugins()), clock
    ).dispatch(claims, NOW, window)
    assert [len(write) for write in producer.writes] == [100, 100, 50]
    sent_at = [run.sent_at for ack in acks for run in ack.runs]
    assert sent_at == [reads[0]] * 100 + [reads[1]] * 100 + [reads[2]] * 50
    assert len(reads) == 3
    assert all(run.lateness == (run.sent_at - NOW).total_seconds() for a in acks for run in a.runs)
