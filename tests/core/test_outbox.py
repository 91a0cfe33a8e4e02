"""beatcore.outbox: one tick's sends, batched into few writes, each reported as a value."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from beatcore import Entry, Interval
from beatcore.outbox import Message, Outbox
from beatcore.runs import SendOutcome, SendStatus
from beatcore.send_window import SendWindow
from beatcore.timeutil import UTC

from .fake_broker import BrokerDown, Elapsed, FakeProducer, fake_publisher

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SENT, FAILED, NOT_TRIED = SendStatus.SENT, SendStatus.FAILED, SendStatus.NOT_TRIED


def messages(*names: str, alone: frozenset[str] = frozenset(), runs: int = 1) -> list[Message]:
    return [
        Message(
            Entry(name=name, task="tasks.unknown", schedule=Interval(1)),
            T0 + timedelta(seconds=i),
            f"{name}-{i}",
            name in alone,
        )
        for name in names
        for i in range(runs)
    ]


def send(
    producer: FakeProducer, window: SendWindow, batch: list[Message], flush_every: int = 100
) -> list[SendOutcome]:
    publisher, _ = fake_publisher(producer)
    with Outbox(publisher, producer, window, flush_every=flush_every) as outbox:
        return list(outbox.send(batch))


def statuses(outcomes: list[SendOutcome]) -> list[tuple[str, SendStatus]]:
    return [(o.task_id, o.status) for o in outcomes]


def test_messages_are_written_flush_every_at_a_time(window: SendWindow) -> None:
    producer = FakeProducer()
    batch = messages(*(f"e{i:03d}" for i in range(250)))
    outcomes = send(producer, window, batch)
    assert [len(write) for write in producer.writes] == [100, 100, 50]
    assert statuses(outcomes) == [(m.task_id, SENT) for m in batch]
    assert [(o.entry, o.occurrence) for o in outcomes] == [(m.entry, m.occurrence) for m in batch]


@pytest.mark.parametrize(
    ("batches", "flush_every"), [(False, 100), (True, 1)], ids=["no batch support", "flush 1"]
)
def test_each_message_is_written_at_once_when_batching_is_off(
    window: SendWindow, batches: bool, flush_every: int
) -> None:
    producer = FakeProducer(batches=batches)
    batch = messages("a", "b", "c")
    assert statuses(send(producer, window, batch, flush_every)) == [
        (m.task_id, SENT) for m in batch
    ]
    assert producer.writes == [["a-0"], ["b-0"], ["c-0"]]


def test_a_message_whose_last_send_failed_is_written_in_a_write_of_its_own(
    window: SendWindow,
) -> None:
    producer = FakeProducer()
    send(producer, window, messages("a", "b", "retried", "c", "d", alone=frozenset({"retried"})))
    assert producer.writes == [["a-0", "b-0"], ["retried-0"], ["c-0", "d-0"]]


def test_a_failed_write_fails_every_message_in_it_and_the_next_write_goes_on(
    window: SendWindow,
) -> None:
    producer = FakeProducer()
    producer.failing_writes = 1
    outcomes = send(producer, window, messages("a", "b", "c", "d"), flush_every=2)
    assert statuses(outcomes) == [("a-0", FAILED), ("b-0", FAILED), ("c-0", SENT), ("d-0", SENT)]
    assert isinstance(outcomes[0].error, BrokerDown)
    assert outcomes[0].last_error == "send failed: OOM writing 2 messages"
    assert producer.writes == [["c-0", "d-0"]]


def test_a_refused_message_stops_its_entry_and_not_the_others(window: SendWindow) -> None:
    producer = FakeProducer()
    publisher, beat = fake_publisher(producer)
    batch = messages("a", "b", runs=3)
    batch[1] = batch[1]._replace(entry=batch[1].entry.evolve(task="tasks.refused"))
    beat.refused.add("tasks.refused")
    with Outbox(publisher, producer, window, flush_every=100) as outbox:
        outcomes = list(outbox.send(batch))
    assert statuses(outcomes) == [
        ("a-1", FAILED),  # refused when published: reported at once, before the write
        ("a-0", SENT),
        ("b-0", SENT),
        ("b-1", SENT),
        ("b-2", SENT),
    ]
    assert producer.sent == ["a-0", "b-0", "b-1", "b-2"], "a-2 is never tried after a-1 failed"


def test_buffered_messages_are_dropped_when_the_window_closes_before_the_write(
    window: SendWindow, elapsed: Elapsed
) -> None:
    producer = FakeProducer()
    publisher, beat = fake_publisher(producer)
    batch = messages("a", "b", "c")

    def paused_after_the_last_one(task_id: str) -> None:
        if task_id == "c-0":
            elapsed.seconds = 31  # e.g. SIGSTOP between buffering and writing

    beat.after_publish = paused_after_the_last_one
    with Outbox(publisher, producer, window, flush_every=100) as outbox:
        outcomes = list(outbox.send(batch))
    assert statuses(outcomes) == [(m.task_id, NOT_TRIED) for m in batch]
    assert producer.writes == []


def test_nothing_is_tried_once_the_window_closed_mid_batch(
    window: SendWindow, elapsed: Elapsed
) -> None:
    producer = FakeProducer(batches=False)
    publisher, _ = fake_publisher(producer)
    batch = messages("a", "b", "c", runs=2)
    seen: list[tuple[str, SendStatus]] = []
    with Outbox(publisher, producer, window, flush_every=100) as outbox:
        for outcome in outbox.send(batch):
            seen.append((outcome.task_id, outcome.status))
            elapsed.seconds = 31  # the lease may have lapsed after the first write
    assert seen == [("a-0", SENT), ("a-1", NOT_TRIED), ("b-0", NOT_TRIED), ("c-0", NOT_TRIED)]
    assert producer.writes == [["a-0"]]


def test_sends_abandoned_by_a_failing_tick_write_nothing_more(window: SendWindow) -> None:
    producer = FakeProducer()
    publisher, _ = fake_publisher(producer)
    with pytest.raises(RuntimeError), Outbox(publisher, producer, window, flush_every=2) as outbox:
        for outcome in outbox.send(messages("a", "b", "c")):
            if outcome.task_id == "b-0":
                raise RuntimeError("the tick failed after the first write")
    assert producer.writes == [["a-0", "b-0"]], "c-0 stayed buffered and was dropped"


def test_messages_carry_the_beat_header(window: SendWindow) -> None:
    producer = FakeProducer()
    publisher, beat = fake_publisher(producer)
    entry = Entry(
        name="h", task="tasks.unknown", schedule=Interval(1), options={"headers": {"x": 1}}
    )
    with Outbox(publisher, producer, window, flush_every=100) as outbox:
        list(outbox.send([Message(entry, T0, "h-0")]))
    assert beat.headers == [
        {
            "x": 1,
            "celery_beat_task": True,
            "beatcore_entry": "h",
            "beatcore_occurrence": T0.isoformat(),
        }
    ]


def settled_steps(
    producer: FakeProducer, window: SendWindow, batch: list[Message], flush_every: int
) -> list[tuple[list[str], int]]:
    publisher, beat = fake_publisher(producer)
    beat.refused.add("tasks.refused")
    with Outbox(publisher, producer, window, flush_every=flush_every) as outbox:
        return [
            ([o.task_id for o in outcomes], settled)
            for outcomes, settled in outbox.send_settled(batch)
        ]


def test_send_settled_counts_the_messages_whose_fate_is_known(window: SendWindow) -> None:
    """After each write, every message taken so far is settled; a message refused while
    others wait in the buffer settles nothing before them."""
    producer = FakeProducer()
    assert settled_steps(producer, window, messages("a", "b", "c", "d", "e"), 2) == [
        (["a-0", "b-0"], 2),
        (["c-0", "d-0"], 4),
        (["e-0"], 5),
    ]
    batch = messages("a", "b", "c")
    batch[1] = batch[1]._replace(entry=batch[1].entry.evolve(task="tasks.refused"))
    assert settled_steps(FakeProducer(), window, batch, 100) == [
        (["b-0"], 0),  # a-0 is still buffered
        (["a-0", "c-0"], 3),
    ]


def test_send_settled_counts_dropped_messages_of_a_stopped_entry(window: SendWindow) -> None:
    batch = messages("a", "b", runs=2)
    batch[0] = batch[0]._replace(entry=batch[0].entry.evolve(task="tasks.refused"))
    batch[1] = batch[1]._replace(entry=batch[0].entry)
    assert settled_steps(FakeProducer(batches=False), window, batch, 100) == [
        (["a-0"], 1),
        (["b-0"], 3),  # a-1 was dropped without an outcome
        (["b-1"], 4),
    ]
