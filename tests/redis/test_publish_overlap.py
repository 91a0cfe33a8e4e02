"""A tick's writes to a Redis broker overlap the work after them: each write is sent, the next
messages are built meanwhile, and its reply is read right before the next write is sent (or
after the last one). On a real ``redis-server`` used as the broker, through the scheduler's
own dispatcher (the schedule in the memory store): the order of sends, reads, signals,
listener calls and acks; refusals reported for the right messages across writes; the send
window closing between two writes; and a tick abandoned with a reply unread leaving every
pooled connection in step.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from itertools import groupby
from typing import Any

import pytest
from celery import Celery
from celery.signals import after_task_publish, before_task_publish
from redis import ConnectionPool
from redis.connection import Connection

from beatcore import Entry, EntryState, Interval, connect, hookimpl, timing
from beatcore.outbox import Message, Outbox
from beatcore.plugins import get_plugins
from beatcore.scheduler import Scheduler
from beatcore.send_window import SendWindow
from beatcore.store import Ack, Claim
from beatcore.testing import (
    DispatchRecorder,
    FakeClock,
    drain_task_ids,
    forget_memory_schedule,
    memory_broker_app,
)
from beatcore.testing.contract import T0
from tests.core.fake_broker import Elapsed
from tests.support.redis_servers import RedisServer

pytestmark = pytest.mark.timeout(60)

NOW = T0
PERIOD = 10
SECOND = timedelta(seconds=1)
_LPUSH = re.compile(rb"\*\d+\r\n\$5\r\nLPUSH\r\n")


class Timeline:
    """What happened, in order: each write of messages to the broker on ``port`` sent
    (``write N``) and its replies read (``read N``), each message's publish signals
    (``before``, ``after``), each listener call (``sent``, ``failed``) and each ack the
    stream yielded (``ack``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[str] = []
        self.writes = 0
        self._unread: dict[int, list[int]] = {}  # per connection: write number, replies due

    def pushes(self, connection: Connection, packed: Any) -> int:
        """How many LPUSHes ``packed`` holds when it goes to the broker (0: not a write)."""
        if connection.port != self.port:
            return 0
        chunks = packed if isinstance(packed, list) else [packed]
        return len(_LPUSH.findall(b"".join(bytes(chunk) for chunk in chunks)))

    def sending(self, connection: Connection, packed: Any) -> None:
        """Called before ``packed`` is sent (a test may replace it)."""

    def sent(self, connection: Connection, packed: Any) -> None:
        pushes = self.pushes(connection, packed)
        if pushes:
            self.writes += 1
            self.events.append(f"write {self.writes}")
            self._unread[id(connection)] = [self.writes, pushes]

    def read(self, connection: Connection) -> None:
        unread = self._unread.get(id(connection))
        if unread is not None:
            unread[1] -= 1
            if not unread[1]:
                del self._unread[id(connection)]
                self.events.append(f"read {unread[0]}")

    @hookimpl
    def beatcore_entry_dispatched(self) -> None:
        self.events.append("sent")

    @hookimpl
    def beatcore_dispatch_failed(self) -> None:
        self.events.append("failed")

    def runs(self) -> list[tuple[str, int]]:
        """The events with each run of equal ones as (event, count)."""
        return [(event, len(list(run))) for event, run in groupby(self.events)]


@pytest.fixture
def timeline(redis_db: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Timeline]:
    timeline = Timeline(redis_db.port)
    send, read = Connection.send_packed_command, Connection.read_response

    def sending(self: Connection, command: Any, check_health: bool = True) -> None:
        timeline.sending(self, command)
        send(self, command, check_health)  # type: ignore[no-untyped-call]
        timeline.sent(self, command)

    def reading(self: Connection, *args: Any, **kwargs: Any) -> Any:
        try:
            return read(self, *args, **kwargs)
        finally:
            timeline.read(self)

    monkeypatch.setattr(Connection, "send_packed_command", sending)
    monkeypatch.setattr(Connection, "read_response", reading)
    manager = get_plugins().manager
    manager.register(timeline)
    try:
        yield timeline
    finally:
        manager.unregister(timeline)


@pytest.fixture
def app(redis_db: RedisServer) -> Iterator[Celery]:
    name = f"overlap-{uuid.uuid4()}"
    yield memory_broker_app(
        f"memory://{name}",
        broker_url=redis_db.url_for(1),
        beatcore_publish_batch_size=100,
        beatcore_dispatch_retry_delay=3,
    )
    forget_memory_schedule(name)


@pytest.fixture
def elapsed() -> Elapsed:
    return Elapsed()


@pytest.fixture
def scheduler(app: Celery) -> Iterator[Scheduler]:
    scheduler = Scheduler(app, clock=FakeClock(NOW), holder="A")
    yield scheduler
    scheduler.close()


@pytest.fixture
def window(app: Celery, elapsed: Elapsed) -> SendWindow:
    """A send window of a fresh 30 s lease, on ``elapsed``."""
    store = connect(app, clock=FakeClock(NOW))
    lease = store.lock.acquire("A", 30)
    assert lease is not None
    return SendWindow(store.lock, lease, elapsed, elapsed())


def claim(name: str, *, queue: str | None = None, runs: int = 1) -> Claim:
    """A claimed entry due ``runs`` times by NOW (catch-up ``all``), sent to ``queue``."""
    options = {"queue": queue} if queue else {}
    entry = Entry(
        name=name, task="tests.add", schedule=Interval(PERIOD), catch_up="all", options=options
    )
    return Claim(entry, EntryState(next_run_at=NOW - (runs - 1) * PERIOD * SECOND))


def ids(claims: list[Claim]) -> list[str]:
    """The task ids of every occurrence of ``claims`` due by NOW, in send order."""
    found = []
    for one in claims:
        at = one.state.next_run_at
        assert at is not None
        while at <= NOW:
            found.append(timing.task_id(one.entry.name, at))
            at += PERIOD * SECOND
    return found


def dispatched(scheduler: Scheduler, claims: list[Claim], window: SendWindow) -> list[Ack]:
    acks = []
    for ack in scheduler.dispatcher.dispatch_stream(claims, NOW, window):
        acks.append(ack)
    return acks


@pytest.mark.parametrize("receivers", [False, True], ids=["no receivers", "publish receivers"])
def test_each_reply_is_read_before_the_next_write_and_its_messages_reported_after(
    app: Celery, scheduler: Scheduler, window: SendWindow, timeline: Timeline, receivers: bool
) -> None:
    """Write 2 is sent only after write 1's reply was read, and write 1's messages are
    reported (after_task_publish, listeners, acks) only after that read; the messages of
    write 2 were built (before_task_publish) while write 1's reply was outstanding."""

    def before(**_: Any) -> None:
        timeline.events.append("before")

    def after(**_: Any) -> None:
        timeline.events.append("after")

    claims = [claim(f"e{i:03d}") for i in range(250)]
    if receivers:
        before_task_publish.connect(before, weak=False)
        after_task_publish.connect(after, weak=False)
    try:
        for _ in scheduler.dispatcher.dispatch_stream(claims, NOW, window):
            timeline.events.append("ack")
    finally:
        before_task_publish.disconnect(before)
        after_task_publish.disconnect(after)
    expected = [
        ("write 1", 1),
        ("read 1", 1),
        ("write 2", 1),
        ("sent", 100),
        ("ack", 100),
        ("read 2", 1),
        ("write 3", 1),
        ("sent", 100),
        ("ack", 100),
        ("read 3", 1),
        ("sent", 50),
        ("ack", 50),
    ]
    if receivers:
        expected = [
            ("before", 100),
            ("write 1", 1),
            ("before", 100),
            ("read 1", 1),
            ("after", 100),
            ("write 2", 1),
            ("sent", 100),
            ("ack", 100),
            ("before", 50),
            ("read 2", 1),
            ("after", 100),
            ("write 3", 1),
            ("sent", 100),
            ("ack", 100),
            ("read 3", 1),
            ("after", 50),
            ("sent", 50),
            ("ack", 50),
        ]
    assert timeline.runs() == expected
    assert drain_task_ids(app) == ids(claims)


def test_refused_messages_fail_alone_across_writes_and_stop_their_entry(
    app: Celery,
    scheduler: Scheduler,
    window: SendWindow,
    beatcore_recorder: DispatchRecorder,
    redis_db: RedisServer,
) -> None:
    """Queue keys holding a string refuse the LPUSH of one message in each of three writes
    (WRONGTYPE): exactly those fail, whichever write's reply reports it. An entry with two
    runs whose first went in a refused write sends nothing more (its second waits for that
    reply instead of joining the next write); one whose runs straddle two good writes sends
    both."""
    dispatched(scheduler, [claim("warm", queue="bad")], window)  # declares the queue "bad"
    with redis_db.client(1) as broker:
        broker.delete("bad")
        broker.set("bad", "not a list")
    beatcore_recorder.sent.clear()
    claims = [claim(f"e{i:03d}", queue="bad" if i == 5 else None) for i in range(99)]
    claims.append(claim("straddles-refused", queue="bad", runs=2))  # the 100th and 101st
    claims += [claim(f"f{i:03d}", queue="bad" if i == 50 else None) for i in range(99)]
    claims.append(claim("straddles-written", runs=2))  # the last of write 2, first of 3
    claims += [claim(f"g{i:03d}", queue="bad" if i == 40 else None) for i in range(60)]
    acks = dispatched(scheduler, claims, window)
    refused = ["e005", "straddles-refused", "f050", "g040"]
    assert [name for name, _, _ in beatcore_recorder.failed] == refused
    assert all("WRONGTYPE" in error for _, _, error in beatcore_recorder.failed)
    written = [c for c in claims if c.entry.name not in refused]
    assert sorted(drain_task_ids(app)) == sorted(ids(written))
    assert sorted(task_id for _, _, task_id in beatcore_recorder.sent) == sorted(ids(written))
    by_name = {ack.name: ack for ack in acks}
    assert [ack.name for ack in acks] == [c.entry.name for c in claims]
    first_run = NOW - PERIOD * SECOND
    stopped = by_name["straddles-refused"]
    assert stopped.state.next_run_at == first_run and stopped.state.total_run_count == 0
    assert stopped.due_at == NOW + 3 * SECOND
    assert by_name["straddles-written"].state.total_run_count == 2
    assert by_name["f050"].state.last_error is not None
    assert "send failed" in by_name["f050"].state.last_error


@pytest.mark.parametrize("when", ["after write 1 was sent", "before write 2 is sent"])
def test_the_window_closing_between_two_writes_keeps_the_first_and_drops_the_rest(
    app: Celery,
    scheduler: Scheduler,
    window: SendWindow,
    elapsed: Elapsed,
    beatcore_recorder: DispatchRecorder,
    timeline: Timeline,
    when: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Write 1 went out while the window was open: its reply is read and its messages are
    sent. Once the window closes (right after that send, or while write 2 was being
    buffered, before it is sent) nothing more is written: those entries are due at once."""
    claims = [claim(f"e{i:03d}") for i in range(250)]
    buffered: list[str] = []

    def closing(headers: dict[str, Any], **_: Any) -> None:
        buffered.append(headers["id"])
        if len(buffered) == 200:  # the last message of write 2 is buffered
            elapsed.seconds = 31

    if when == "after write 1 was sent":
        sent = timeline.sent

        def closing_after_write_1(connection: Connection, packed: Any) -> None:
            sent(connection, packed)
            if timeline.writes == 1:
                elapsed.seconds = 31

        timeline.sent = closing_after_write_1  # type: ignore[method-assign]
    else:
        before_task_publish.connect(closing, weak=False)
    try:
        acks = dispatched(scheduler, claims, window)
    finally:
        before_task_publish.disconnect(closing)
    assert timeline.writes == 1
    assert drain_task_ids(app) == ids(claims[:100])
    assert [task_id for _, _, task_id in beatcore_recorder.sent] == ids(claims[:100])
    assert beatcore_recorder.failed == []
    assert [ack.due_at for ack in acks] == [NOW + PERIOD * SECOND] * 100 + [NOW] * 150
    assert any("150 entries were left unsent" in r.getMessage() for r in caplog.records)


def _pooled_connections_answer_in_step(pool: ConnectionPool) -> None:
    """Each connection the pool holds answers a command with its own reply (no reply of an
    earlier write is left on it to be read as this one's)."""
    available = list(pool._available_connections)  # type: ignore[attr-defined]
    assert available, "the batch's connection went back to the pool"
    for connection in available:
        connection.send_command("ECHO", "in step")
        assert connection.read_response() == b"in step"


@pytest.mark.parametrize("how", ["stream closed", "tick failed"])
def test_sends_abandoned_with_a_reply_unread_leave_the_pool_in_step(
    app: Celery,
    scheduler: Scheduler,
    window: SendWindow,
    beatcore_recorder: DispatchRecorder,
    timeline: Timeline,
    how: str,
) -> None:
    """The consumer stops after the first acks (the store failed), with write 2 sent and
    its reply unread: write 2's messages are not reported (their entries stay in flight, as
    after a crash), write 3 is never sent, and the connection goes back to the pool with
    nothing unread on it (disconnected); the next tick's writes and a command on the pool
    work."""
    claims = [claim(f"e{i:03d}") for i in range(250)]
    if how == "stream closed":
        stream = scheduler.dispatcher.dispatch_stream(claims, NOW, window)
        first = next(stream)
        stream.close()
        assert first.name == "e000"
    else:
        publisher = scheduler.publisher
        messages = [Message(c.entry, NOW, timing.task_id(c.entry.name, NOW)) for c in claims]
        with (
            pytest.raises(RuntimeError),
            Outbox(publisher, publisher.connect(), window, flush_every=100) as outbox,
        ):
            for _ in outbox.send(messages):
                raise RuntimeError("the tick failed after the first write was read")
    assert timeline.writes == 2
    assert timeline.runs()[:3] == [("write 1", 1), ("read 1", 1), ("write 2", 1)]
    assert "read 2" not in timeline.events
    assert len(beatcore_recorder.sent) == (100 if how == "stream closed" else 0)
    _pooled_connections_answer_in_step(scheduler.publisher.connect().channel.pool)
    # written by the server all the same (its reply was dropped with the connection)
    assert drain_task_ids(app) == ids(claims[:200])
    again = dispatched(scheduler, claims[:150], window)
    assert len(again) == 150 and timeline.writes == 4
    assert drain_task_ids(app) == ids(claims[:150])


def test_a_reply_that_cannot_be_read_fails_its_write_and_the_next_goes_on_a_new_connection(
    app: Celery,
    scheduler: Scheduler,
    window: SendWindow,
    beatcore_recorder: DispatchRecorder,
    timeline: Timeline,
    redis_db: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The broker drops the connection between write 1's send and its read (its writes
    paused, so write 1 never ran): write 1's messages fail (retried later with the same
    task ids), and write 2 goes out on a fresh connection and is sent. Each failed message
    has its ERROR line; the traceback of the write's one error goes with the first only."""
    claims = [claim(f"e{i:03d}") for i in range(150)]
    dropped: list[bool] = []

    def paused_then_dropped(connection: Connection, packed: Any) -> None:
        if timeline.pushes(connection, packed) and not dropped:  # write 1, not sent yet
            dropped.append(True)
            with redis_db.client() as admin:  # write 1 waits, unrun, until its client is gone
                admin.execute_command("CLIENT", "PAUSE", 300, "WRITE")
            sent = timeline.sent

            def killed_once_sent(connection: Connection, packed: Any) -> None:
                sent(connection, packed)
                timeline.sent = sent  # type: ignore[method-assign]
                with redis_db.client() as admin:
                    admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")

            timeline.sent = killed_once_sent  # type: ignore[method-assign]

    timeline.sending = paused_then_dropped  # type: ignore[method-assign]
    acks = dispatched(scheduler, claims, window)
    assert [name for name, _, _ in beatcore_recorder.failed] == [c.entry.name for c in claims[:100]]
    assert [task_id for _, _, task_id in beatcore_recorder.sent] == ids(claims[100:])
    assert drain_task_ids(app) == ids(claims[100:])
    assert [ack.due_at for ack in acks] == [NOW + 3 * SECOND] * 100 + [NOW + PERIOD * SECOND] * 50
    assert any("writing a batch of 100 messages" in r.getMessage() for r in caplog.records)
    # one ERROR line per failed message, the write's one traceback with the first only
    lines = [
        r for r in caplog.records if "failed: " in r.getMessage() and "of entry" in r.getMessage()
    ]
    assert [r.levelname for r in lines] == ["ERROR"] * 100
    assert [r.exc_info is not None for r in lines] == [True] + [False] * 99
    assert all("logged before, with its traceback" in r.getMessage() for r in lines[1:])
    assert "traceback" not in lines[0].getMessage()
