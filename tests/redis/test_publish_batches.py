"""Publishing a tick's messages in batches, on a real ``redis-server`` used as the Celery broker.

kombu (>= 5.7) buffers the publishes made inside ``Producer.batch()`` and writes them in one
pipeline. The scheduler counts an occurrence as sent only once its message was written, checks
its send window again before each write, and treats a failed write as a failed send of every
message in it (same task ids on the retry). The schedule lives in the memory store: the broker
is the subject here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from celery.signals import after_task_publish, before_task_publish
from redis.connection import Connection

from beatcore import Entry, Interval, connect, timing
from beatcore.scheduler import Scheduler
from beatcore.testing import (
    DispatchRecorder,
    FakeClock,
    drain_task_ids,
    forget_memory_schedule,
    memory_broker_app,
    recording,
)
from beatcore.testing.contract import T0
from tests.support.redis_servers import RedisServer

pytestmark = pytest.mark.timeout(60)

PERIOD = 10
SECOND = timedelta(seconds=1)
OCCURRENCE = T0 + PERIOD * SECOND


_LPUSH = re.compile(rb"\*(\d+)\r\n\$5\r\nLPUSH\r\n")


class BrokerWrites:
    """Counts the round trips that write messages (LPUSH) to the broker on ``port``, and the
    messages they carry (an LPUSH may push several)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.round_trips = 0
        self.messages = 0

    def record(self, connection: Connection, packed: Any) -> None:
        if connection.port != self.port:
            return
        chunks = packed if isinstance(packed, list) else [packed]
        data = b"".join(bytes(chunk) for chunk in chunks)
        pushed = sum(int(count) - 2 for count in _LPUSH.findall(data))
        if pushed:
            self.round_trips += 1
            self.messages += pushed


@pytest.fixture
def broker_writes(redis_db: RedisServer, monkeypatch: pytest.MonkeyPatch) -> BrokerWrites:
    writes = BrokerWrites(redis_db.port)
    original = Connection.send_packed_command

    def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        writes.record(self, command)
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    return writes


@pytest.fixture
def recorder() -> Iterator[DispatchRecorder]:
    with recording() as recorder:
        yield recorder


@pytest.fixture
def app(redis_db: RedisServer) -> Iterator[Celery]:
    name = f"batches-{uuid.uuid4()}"
    app = memory_broker_app(
        f"memory://{name}",
        broker_url=redis_db.url_for(1),
        beatcore_publish_batch_size=100,
        beatcore_dispatch_retry_delay=3,
    )
    yield app
    forget_memory_schedule(name)


def save_entries(app: Celery, clock: FakeClock, count: int) -> list[str]:
    store = connect(app, clock=clock)
    names = [f"e{i:03d}" for i in range(count)]
    for name in names:
        store.save(Entry(name=name, task="tests.add", schedule=Interval(PERIOD)))
    return names


def expected_ids(names: list[str]) -> list[str]:
    return [timing.task_id(name, OCCURRENCE) for name in names]


@pytest.mark.parametrize(
    ("due", "batch_size", "writes"),
    [(250, 100, 3), (5, 1, 5)],
    ids=["250 in batches of 100", "batch size 1: one write each"],
)
def test_a_tick_writes_its_messages_in_batches(
    app: Celery,
    recorder: DispatchRecorder,
    broker_writes: BrokerWrites,
    due: int,
    batch_size: int,
    writes: int,
) -> None:
    app.conf.beatcore_publish_batch_size = batch_size
    clock = FakeClock(T0)
    names = save_entries(app, clock, due)
    scheduler = Scheduler(app, clock=clock, holder="A")
    scheduler.tick()
    clock.advance(PERIOD)
    scheduler.tick()
    assert broker_writes.messages == due
    assert broker_writes.round_trips == writes
    assert drain_task_ids(app) == expected_ids(names)
    assert [task_id for _, _, task_id in recorder.sent] == expected_ids(names)
    store = connect(app, clock=clock)
    assert store.in_flight() == []
    assert all(store.state(name).total_run_count == 1 for name in names)


def test_a_ticks_writes_share_one_connection_and_no_client(
    app: Celery, broker_writes: BrokerWrites, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kombu makes a client (with its table of reply callbacks) per acquire and a pipeline
    checks a connection out of the pool per write: a tick's batch makes no client and takes
    one connection for all its writes."""
    from kombu.transport.redis import Channel
    from redis import ConnectionPool

    made: list[Any] = []
    taken: list[Any] = []
    original_client, original_get = Channel._create_client, ConnectionPool.get_connection

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(self)
        return original_client(self, *args, **kwargs)

    def taking(self: ConnectionPool, *args: Any, **kwargs: Any) -> Any:
        taken.append(self)
        return original_get(self, *args, **kwargs)

    monkeypatch.setattr(Channel, "_create_client", counting)
    monkeypatch.setattr(ConnectionPool, "get_connection", taking)
    clock = FakeClock(T0)
    save_entries(app, clock, 250)
    scheduler = Scheduler(app, clock=clock, holder="A")
    scheduler.tick()
    clock.advance(PERIOD)
    scheduler.tick()  # the first sends also declare the queue (a client or two of kombu's)
    made.clear()
    taken.clear()
    clock.advance(PERIOD)
    scheduler.tick()
    assert broker_writes.round_trips == 6 and broker_writes.messages == 500
    assert made == []
    assert len(taken) == 1  # three writes


def test_a_failed_write_is_retried_later_with_the_same_task_ids(
    app: Celery,
    recorder: DispatchRecorder,
    redis_db: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(T0)
    names = save_entries(app, clock, 150)
    connect(app, clock=clock).save(
        Entry(name="warm", task="tests.add", schedule=Interval(PERIOD, anchor=T0 - 5 * SECOND))
    )
    scheduler = Scheduler(app, clock=clock, holder="A")
    clock.advance(PERIOD / 2)
    scheduler.tick()  # sends "warm": the queue is declared before the broker refuses writes
    assert drain_task_ids(app) == [timing.task_id("warm", T0 + 5 * SECOND)]
    recorder.sent.clear()
    with redis_db.client() as admin:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)  # every write is refused with an OOM error
        try:
            clock.advance(PERIOD / 2)
            scheduler.tick()
        finally:
            admin.config_set("maxmemory", 0)
    assert recorder.sent == []
    assert sorted(name for name, _, _ in recorder.failed) == names
    writes_failed = [r for r in caplog.records if "writing a batch of" in r.getMessage()]
    assert len(writes_failed) == 2, "100 + 50 messages, each batch failed as a whole"
    store = connect(app, clock=clock)
    state = store.state("e000")
    assert state.next_run_at == OCCURRENCE and state.total_run_count == 0
    assert state.last_error is not None and "send failed" in state.last_error
    assert drain_task_ids(app) == []

    clock.advance(2)
    scheduler.tick()
    assert recorder.sent == [], "retried before beatcore_dispatch_retry_delay"
    clock.advance(1)
    scheduler.tick()
    assert sorted(task_id for _, _, task_id in recorder.sent) == sorted(expected_ids(names))
    assert sorted(drain_task_ids(app)) == sorted(expected_ids(names)), "exactly once each"
    assert store.state("e000").last_error is None


def test_buffered_messages_are_dropped_when_the_window_closes_before_the_write(
    app: Celery, recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A leader paused after buffering, for longer than the lock TTL, writes nothing."""
    app.conf.beatcore_lock_ttl = 30
    clock = FakeClock(T0)
    names = save_entries(app, clock, 3)
    elapsed = [0.0]
    scheduler = Scheduler(app, clock=clock, holder="A", monotonic=lambda: elapsed[0])
    scheduler.tick()
    buffered: list[str] = []

    def paused_after_the_last_one(headers: dict[str, Any], **_: Any) -> None:
        buffered.append(headers["id"])
        if len(buffered) == len(names):
            elapsed[0] += 31  # e.g. SIGSTOP between buffering and writing

    before_task_publish.connect(paused_after_the_last_one, weak=False)
    try:
        clock.advance(PERIOD)
        assert scheduler.tick() == 0.0, "the dropped entries are due again at once"
    finally:
        before_task_publish.disconnect(paused_after_the_last_one)
    assert buffered == expected_ids(names)
    assert drain_task_ids(app) == []
    assert recorder.sent == []
    store = connect(app, clock=clock)
    assert [store.state(n).next_run_at for n in names] == [OCCURRENCE] * 3
    assert store.state("e000").last_error is None
    assert any("3 entries were left unsent" in r.getMessage() for r in caplog.records)

    scheduler.tick()  # still the leader (the store's clock did not move): now they go out
    assert drain_task_ids(app) == expected_ids(names)


@pytest.mark.parametrize("receivers", [False, True], ids=["no receivers", "publish receivers"])
def test_a_message_the_broker_refuses_fails_alone(
    app: Celery, recorder: DispatchRecorder, redis_db: RedisServer, receivers: bool
) -> None:
    """One entry's queue key comes to hold a string: its LPUSH fails, and only its message
    is reported failed (each list's LPUSH is a reply of its own in the write); the others
    of the same write were written and are sent once. Its retries fail alone. With publish
    receivers, ``before_task_publish`` hears every message and ``after_task_publish`` only
    the written ones."""
    before: list[str] = []
    after: list[str] = []

    def heard_before(headers: dict[str, Any], **_: Any) -> None:
        before.append(headers["beatcore_entry"])

    def heard_after(headers: dict[str, Any], **_: Any) -> None:
        after.append(headers["beatcore_entry"])

    if receivers:
        before_task_publish.connect(heard_before, weak=False)
        after_task_publish.connect(heard_after, weak=False)
    try:
        _refused_fails_alone(app, recorder, redis_db, before, after)
    finally:
        before_task_publish.disconnect(heard_before)
        after_task_publish.disconnect(heard_after)
    if receivers:
        assert before.count("refused") == 4 and "refused" not in after  # 1 try, 3 retries


def _refused_fails_alone(
    app: Celery,
    recorder: DispatchRecorder,
    redis_db: RedisServer,
    before: list[str],
    after: list[str],
) -> None:
    clock = FakeClock(T0)
    names = save_entries(app, clock, 3)
    store = connect(app, clock=clock)
    store.save(
        Entry(name="refused", task="tests.add", schedule=Interval(PERIOD), options={"queue": "bad"})
    )
    scheduler = Scheduler(app, clock=clock, holder="A")
    scheduler.tick()
    clock.advance(PERIOD)
    scheduler.tick()  # all four go out; the queue "bad" is declared
    assert len(recorder.sent) == 4
    drain_task_ids(app)
    recorder.sent.clear()
    with redis_db.client(1) as broker:
        broker.delete("bad")
        broker.set("bad", "not a list")
    before.clear()
    after.clear()
    clock.advance(PERIOD)
    scheduler.tick()  # one write of 4 messages: the LPUSH onto "bad" fails
    assert [name for name, _, _ in recorder.failed] == ["refused"]
    assert sorted(name for name, _, _ in recorder.sent) == names
    if before:  # the publish receivers heard each message, and each written one after
        assert sorted(before) == sorted([*names, "refused"])
        assert sorted(after) == names
    for _ in range(3):  # three retries
        clock.advance(3)
        scheduler.tick()
    assert [name for name, _, _ in recorder.failed] == ["refused"] * 4
    assert len(recorder.sent) == 3
    second = [timing.task_id(name, OCCURRENCE + PERIOD * SECOND) for name in names]
    assert sorted(drain_task_ids(app)) == sorted(second), "each written once"
    assert "send failed" in str(store.state("refused").last_error)


@pytest.mark.parametrize("poisoned", ["e000", "e001", "e002"])
def test_a_message_that_cannot_be_encoded_fails_alone(
    app: Celery, recorder: DispatchRecorder, poisoned: str
) -> None:
    """A ``before_task_publish`` receiver puts a value JSON cannot encode in one message's
    headers, first, in the middle or last of a write: only that message fails (as Celery's
    own send fails it); the others of the write are written once, reported sent, and only
    they are heard by ``after_task_publish``."""
    after: list[str] = []

    def poison(headers: dict[str, Any], **_: Any) -> None:
        if headers["beatcore_entry"] == poisoned:
            headers["poison"] = object()

    def heard_after(headers: dict[str, Any], **_: Any) -> None:
        after.append(headers["beatcore_entry"])

    clock = FakeClock(T0)
    names = save_entries(app, clock, 3)
    scheduler = Scheduler(app, clock=clock, holder="A")
    before_task_publish.connect(poison, weak=False)
    after_task_publish.connect(heard_after, weak=False)
    try:
        scheduler.tick()
        clock.advance(PERIOD)
        scheduler.tick()
    finally:
        before_task_publish.disconnect(poison)
        after_task_publish.disconnect(heard_after)
    written = [name for name in names if name != poisoned]
    assert [name for name, _, _ in recorder.failed] == [poisoned]
    assert "not JSON serializable" in recorder.failed[0][2]
    assert sorted(name for name, _, _ in recorder.sent) == written
    assert sorted(after) == written
    assert sorted(drain_task_ids(app)) == sorted(expected_ids(written))


def test_a_write_that_refuses_one_message_reports_the_others_beside_an_exchanges(
    app: Celery, recorder: DispatchRecorder, redis_db: RedisServer
) -> None:
    """A message through an exchange is written by its own publish while the tick's write is
    being buffered; when that write then refuses another message (its queue key holds a
    string), only the refused one fails: the exchange's message and the written one are sent."""
    clock = FakeClock(T0)
    store = connect(app, clock=clock)
    options: dict[str, dict[str, Any]] = {
        "a": {},
        "b": {"exchange": "direct-ex", "routing_key": "rk"},
        "c": {"queue": "bad"},
    }
    for name, entry_options in options.items():
        store.save(
            Entry(name=name, task="tests.add", schedule=Interval(PERIOD), options=entry_options)
        )
    scheduler = Scheduler(app, clock=clock, holder="A")
    scheduler.tick()
    clock.advance(PERIOD)
    scheduler.tick()  # all three go out; the queue "bad" is declared
    assert sorted(name for name, _, _ in recorder.sent) == ["a", "b", "c"]
    recorder.sent.clear()
    with redis_db.client(1) as broker:
        broker.delete("bad")
        broker.set("bad", "not a list")
    clock.advance(PERIOD)
    scheduler.tick()
    assert [name for name, _, _ in recorder.failed] == ["c"]
    assert sorted(name for name, _, _ in recorder.sent) == ["a", "b"]
    assert "send failed" in str(store.state("c").last_error)
    assert store.state("b").last_error is None
