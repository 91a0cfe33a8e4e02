"""Beat's message of an occurrence is the one ``apply_async`` sends for the same call.

The publisher builds each entry definition's message once (``beatcore.task_message``) and, on a
Redis broker, writes the kombu envelope itself (``beatcore.redis_broker``); elsewhere it calls
``Producer.publish``. Each case here ticks a real scheduler (memory store) that sends one
occurrence, then sends the same task, args, kwargs and options with the entry's task id
through Celery (``Task.apply_async``, or ``Celery.send_task`` for a task the app does not
know), and compares what the broker holds: on Redis the raw JSON envelope of each, on kombu's
memory transport the received message. (Plain Redis, with kombu's global key prefix, and
through Sentinel.) Equal except for the delivery tag (random per message)
and the ``expires`` instant (counted from each send), and beat's own headers
(``celery_beat_task``, ``beatcore_entry``, ``beatcore_occurrence``), compared by name. Celery's
``before_task_publish`` / ``after_task_publish`` receivers get the same arguments on both paths,
and what a receiver adds to the headers is in the message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from celery.signals import after_task_publish, before_task_publish
from kombu import Exchange, Queue

from beatcore import Entry, Interval, connect, redis_broker, timing
from beatcore.publisher import ENTRY_HEADER, OCCURRENCE_HEADER
from beatcore.scheduler import Scheduler
from beatcore.task_message import TaskMessage
from beatcore.testing import FakeClock, forget_memory_schedule, memory_broker_app
from beatcore.testing.contract import T0
from tests.support.redis_servers import RedisSentinelGroup, RedisServer

pytestmark = [pytest.mark.timeout(60), pytest.mark.redis_server]

PERIOD = 10
OCCURRENCE = T0 + timedelta(seconds=PERIOD)
BEAT_HEADERS = {"celery_beat_task", ENTRY_HEADER, OCCURRENCE_HEADER}

#: (task, args, kwargs, options) of each case; tests.add and tests.attrs are registered.
CASES: dict[str, tuple[str, list[Any], dict[str, Any], dict[str, Any]]] = {
    "registered, args": ("tests.add", [1, 2], {}, {}),
    "by name, queue and priority": (
        "tests.unknown",
        [],
        {"text": 'é ✓ "quoted"', "n": [1, 2.5, None, True]},
        {"queue": "other", "priority": 5},
    ),
    "expires, headers, limits, no result": (
        "tests.add",
        [],
        {"x": 1},
        {
            "expires": 300,
            "headers": {"h": 1, "nested": {"a": [1]}},
            "time_limit": 30,
            "soft_time_limit": 20,
            "ignore_result": True,
        },
    ),
    "exchange and routing key": (
        "tests.add",
        [],
        {},
        {"exchange": "ex", "routing_key": "rk", "queue": "bound"},
    ),
    "compression, serializer": (
        "tests.add",
        [3],
        {},
        {"compression": "gzip", "serializer": "json"},
    ),
    "task attributes": ("tests.attrs", [], {}, {}),
    "task_routes": ("tests.routed", [], {}, {"shadow": "shown-as"}),
    "countdown (Celery's own path)": ("tests.add", [], {}, {"countdown": 5}),
}


@pytest.fixture(params=["redis", "redis-key-prefix", "sentinel", "memory"])
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, Any]]]:
    """The broker URL and transport options: Redis (written directly), Redis with kombu's
    global key prefix, Redis through Sentinel (kombu's sentinel transport), or kombu's
    memory transport."""
    if request.param == "memory":
        yield "memory://", {}
        return
    if request.param == "sentinel":
        group: RedisSentinelGroup = request.getfixturevalue("redis_sentinel")
        urls = ";".join(f"sentinel://127.0.0.1:{s.port}/6" for s in group.sentinels)
        yield urls, {"master_name": group.master_name}
        with group.master().client(6) as client:
            client.flushdb()
        return
    redis_db: RedisServer = request.getfixturevalue("redis_db")
    options: dict[str, Any] = {"queue_order_strategy": "priority"}
    if request.param == "redis-key-prefix":
        options["global_keyprefix"] = "pfx:"
    yield redis_db.url_for(1), options


@pytest.fixture
def app(broker: tuple[str, dict[str, Any]]) -> Iterator[Celery]:
    name = f"identity-{uuid.uuid4()}"
    app = memory_broker_app(
        f"memory://{name}",
        broker_url=broker[0],
        task_queues=[
            Queue(f"q-{name}", routing_key=f"q-{name}"),
            Queue("other"),
            Queue("routed"),
            Queue("bound", Exchange("ex", type="direct"), routing_key="rk"),
        ],
        task_routes={"tests.routed": {"queue": "routed"}},
        broker_transport_options=broker[1],
    )
    app.conf.task_default_queue = f"q-{name}"

    @app.task(  # type: ignore[untyped-decorator]
        name="tests.attrs", shared=False, time_limit=10, soft_time_limit=5, ignore_result=True
    )
    def attrs() -> None:
        return None

    yield app
    forget_memory_schedule(name)


class Broker:
    """Reads every message the app's broker holds, oldest first, as comparable dicts."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.queues = [q.name for q in app.conf.task_queues]

    def take(self) -> list[dict[str, Any]]:
        with self.app.connection_for_read() as conn:
            channel = conn.default_channel
            if conn.transport_cls == "memory":
                return self._take_memory(channel)
            return self._take_redis(channel)

    def keys(self) -> set[bytes] | None:
        """Redis: every key left on the broker db (then emptied); None on memory."""
        with self.app.connection_for_read() as conn:
            if conn.transport_cls == "memory":
                return None
            client = conn.default_channel.client
            keys = set(client.keys("*"))
            prefix = conn.transport_options.get("global_keyprefix")
            assert all(key.startswith(prefix.encode()) for key in keys) if prefix else True
            client.flushdb()
            return keys

    def _take_redis(self, channel: Any) -> list[dict[str, Any]]:
        found = []
        client = channel.client
        for queue in self.queues:
            for step in channel.priority_steps:
                key = channel._q_for_pri(queue, step)
                while (raw := client.rpop(key)) is not None:
                    found.append({"key": key, **json.loads(raw)})
        return found

    def _take_memory(self, channel: Any) -> list[dict[str, Any]]:
        found = []
        for queue in self.queues:
            while (message := channel.basic_get(queue, no_ack=True)) is not None:
                found.append(
                    {
                        "key": queue,
                        "body": message.body,
                        "content-type": message.content_type,
                        "content-encoding": message.content_encoding,
                        "headers": message.headers,
                        "properties": message.properties,
                        "delivery_info": {
                            k: message.delivery_info.get(k) for k in ("exchange", "routing_key")
                        },
                    }
                )
        return found


def normalised(message: dict[str, Any], sent_at: datetime) -> dict[str, Any]:
    """``message`` without what differs between two sends of it: the delivery tag (checked
    to be a UUID) and the ``expires`` instant (checked to count from ``sent_at``)."""
    message = json.loads(json.dumps(message, default=str))
    properties = message["properties"]
    tag = properties.pop("delivery_tag", None)
    if tag is not None:
        assert uuid.UUID(tag).version == 4
    for header, after in (("expires", 300), ("eta", 5)):
        value = message["headers"].get(header)
        if value is not None:
            at = datetime.fromisoformat(value)
            assert abs((at - sent_at).total_seconds() - after) < 60, value
            message["headers"][header] = f"<{header}>"
    return message


def beat_message(app: Celery, entry: Entry) -> tuple[Entry, str]:
    """Tick a scheduler that sends one occurrence of ``entry``; return the entry as stored
    (what the scheduler read) and the task id. Checks that beatcore built the message
    itself, but for Celery's own path (countdown)."""
    clock = FakeClock(T0)
    store = connect(app, clock=clock)
    store.save(entry)
    stored = store.get(entry.name)
    scheduler = Scheduler(app, clock=clock, holder="A")
    try:
        scheduler.tick()
        clock.advance(PERIOD)
        scheduler.tick()
        assert scheduler.publisher.messages_built == (0 if "countdown" in entry.options else 1)
    finally:
        scheduler.close()
    return stored, timing.task_id("the entry", OCCURRENCE)


def celery_message(app: Celery, entry: Entry, task_id: str) -> None:
    """Send the entry's task with its args, kwargs and options through Celery itself, with
    a producer made as celery beat makes its own (on a connection of its own: the app's
    pooled ones remember what earlier tests declared)."""
    registered = app.tasks.get(entry.task)
    args, kwargs, options = entry.args, entry.kwargs, entry.options
    with app.connection_for_write() as conn:
        producer = app.amqp.Producer(conn, auto_declare=False)
        if registered is not None:
            registered.apply_async(args, kwargs, task_id=task_id, producer=producer, **options)
        else:
            app.send_task(entry.task, args, kwargs, task_id=task_id, producer=producer, **options)


class Signals:
    """Records what Celery's publish signals are called with (and adds a trace header)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def before(self, sender: str, headers: dict[str, Any], **kwargs: Any) -> None:
        headers["traceparent"] = f"trace-{headers['id']}"
        self.calls.append(("before", {"sender": sender, "headers": dict(headers), **kwargs}))

    def after(self, sender: str, **kwargs: Any) -> None:
        self.calls.append(("after", {"sender": sender, **kwargs}))

    def comparable(self) -> list[tuple[str, Any]]:
        calls = []
        for name, call in self.calls:
            call = dict(call)
            call.pop("signal", None)
            call["headers"] = {
                k: (f"<{k}>" if k in ("expires", "eta") and v else v)
                for k, v in call["headers"].items()
                if k not in BEAT_HEADERS
            }
            calls.append((name, repr(sorted(call.items()))))
        return calls


def assert_sent_as_apply_async_sends(
    app: Celery, store: Any, broker: Broker, sent: dict[str, dict[str, Any]]
) -> None:
    """Hold each of beat's messages ``sent`` (by entry name, of OCCURRENCE) against the one
    ``apply_async`` sends for its stored entry: headers (beat's own left out), properties,
    body, content type and encoding, the list it is on."""
    now = datetime.now(T0.tzinfo)
    for name, beat in sent.items():
        entry = store.get(name)
        celery_message(app, entry, timing.task_id(name, OCCURRENCE))
        (celery,) = broker.take()
        assert beat["headers"][OCCURRENCE_HEADER] == OCCURRENCE.isoformat()
        for header in BEAT_HEADERS:
            del beat["headers"][header]
        beat, celery = normalised(beat, now), normalised(celery, now)
        for part in ("headers", "properties"):
            assert sorted(beat.pop(part).items()) == sorted(celery.pop(part).items()), name
        assert beat == celery, name


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("receivers", [False, True], ids=["no receivers", "receivers"])
def test_beat_sends_the_message_apply_async_sends(app: Celery, case: str, receivers: bool) -> None:
    task, args, kwargs, options = CASES[case]
    entry = Entry(
        name="the entry",
        task=task,
        schedule=Interval(PERIOD),
        args=args,
        kwargs=kwargs,
        options=options,
    )
    broker = Broker(app)
    signals = Signals()
    if receivers:
        before_task_publish.connect(signals.before, weak=False)
        after_task_publish.connect(signals.after, weak=False)
    try:
        entry, task_id = beat_message(app, entry)
        beat_signals = signals.comparable()
        signals.calls.clear()
        (beat,) = broker.take()
        beat_keys = broker.keys()
        celery_message(app, entry, task_id)
        celery_signals = signals.comparable()
        (celery,) = broker.take()
        celery_keys = broker.keys()
    finally:
        before_task_publish.disconnect(signals.before)
        after_task_publish.disconnect(signals.after)

    now = datetime.now(T0.tzinfo)
    beat_headers = beat["headers"]
    assert beat_headers["celery_beat_task"] is True
    assert beat_headers[ENTRY_HEADER] == "the entry"
    assert beat_headers[OCCURRENCE_HEADER] == OCCURRENCE.isoformat()
    assert not BEAT_HEADERS & celery["headers"].keys()
    for name in BEAT_HEADERS:
        del beat_headers[name]
    assert beat_headers.get("traceparent") == (f"trace-{task_id}" if receivers else None)
    beat, celery = normalised(beat, now), normalised(celery, now)
    for part in ("headers", "properties"):
        assert sorted(beat.pop(part).items()) == sorted(celery.pop(part).items()), part
    assert beat == celery  # body, content type and encoding, the list it is on
    assert beat_signals == celery_signals
    assert beat_keys == celery_keys, "the queue declared (bindings) as Celery declares it"
    if receivers:
        assert [name for name, _ in beat_signals] == ["before", "after"]


def test_entries_differing_by_their_arguments_alone_each_send_their_own_message(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One schedule per customer: the message of each is made from the first one's route
    (``TaskMessage.for_arguments``), with its own body, argsrepr and kwargsrepr."""
    derived: list[TaskMessage] = []
    for_arguments = TaskMessage.for_arguments

    def counted(self: TaskMessage, *args: Any) -> TaskMessage | None:
        made = for_arguments(self, *args)
        if made is not None:
            derived.append(made)
        return made

    monkeypatch.setattr(TaskMessage, "for_arguments", counted)
    clock = FakeClock(T0)
    store = connect(app, clock=clock)
    for name, task, args, kwargs in [
        ("c1", "tests.add", (), {"x": 1}),
        ("c2", "tests.add", (), {"x": 2, "y": "two"}),
        ("c3", "tests.add", (3, 4), {}),
        ("n1", "tests.unknown", ("a",), {}),
        ("n2", "tests.unknown", ("b", ["c"]), {"k": None}),
    ]:
        store.save(
            Entry(
                name=name,
                task=task,
                schedule=Interval(PERIOD),
                args=args,
                kwargs=kwargs,
                options={"queue": "other"},
            )
        )
    scheduler = Scheduler(app, clock=clock, holder="A")
    try:
        scheduler.tick()
        clock.advance(PERIOD)
        scheduler.tick()
        assert scheduler.publisher.messages_built == 5
        assert len(derived) == 3, "c2 and c3 from c1, n2 from n1"
    finally:
        scheduler.close()
    broker = Broker(app)
    sent = {m["headers"][ENTRY_HEADER]: m for m in broker.take()}
    assert sorted(sent) == ["c1", "c2", "c3", "n1", "n2"]
    assert_sent_as_apply_async_sends(app, store, broker, sent)


#: Arguments of one schedule per customer: JSON braces and quotes, non-ASCII, a text past
#: argsrepr's limit (saferepr shortens it), nesting, numbers that JSON writes apart.
CUSTOMER_ARGUMENTS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1,), {}),
    ((2, "two"), {"id": "c-2"}),
    (('"}{"',), {"text": '{"a": "}"} é 客户'}),
    (("x" * 3000,), {"long": "y" * 3000}),
    (([1, [2, {"k": None}]],), {"n": {"deep": [True, False, 1.5, -0.0]}}),
    ((), {"only": "kwargs"}),
    ((10**20, 1e-7), {}),
]


@pytest.mark.parametrize(
    ("task", "options"),
    [
        ("tests.customer", {}),
        ("tests.unknown", {"expires": 300, "priority": 5, "headers": {"h": "{}"}}),
        ("tests.customer", {"queue": "other", "serializer": "json"}),
    ],
    ids=["registered", "by name, expires, priority, headers", "queue"],
)
def test_customers_differing_by_their_arguments_are_sent_as_apply_async_sends(
    app: Celery, monkeypatch: pytest.MonkeyPatch, task: str, options: dict[str, Any]
) -> None:
    """One schedule per customer: the messages made from the first one's route are written
    from one template of it (body, argsrepr and kwargsrepr filled in), each the message
    apply_async sends."""
    filled: list[str] = []
    original = redis_broker.arguments_text

    def counted(*args: Any) -> str | None:
        text = original(*args)
        if text is not None:
            filled.append(text)
        return text

    monkeypatch.setattr(redis_broker, "arguments_text", counted)

    @app.task(name="tests.customer", shared=False)  # type: ignore[untyped-decorator]
    def customer(*args: Any, **kwargs: Any) -> None:
        return None

    names = [f"customer-{i}" for i in range(len(CUSTOMER_ARGUMENTS) + 1)]
    arguments = zip(names, [((0,), {}), *CUSTOMER_ARGUMENTS], strict=True)
    sent = tick_entries(
        app,
        [
            Entry(name, task, Interval(PERIOD), args, kwargs, options)
            for name, (args, kwargs) in arguments
        ],
    )
    assert sorted(sent) == sorted(names)
    direct = not app.conf.broker_url.startswith("memory")
    # the first customer is built, the second made from dicts, the rest from the template
    assert len(filled) == (len(names) - 2 if direct else 0)
    assert_sent_as_apply_async_sends(app, connect(app), Broker(app), sent)


def test_entries_sharing_one_definition_each_send_the_message_apply_async_sends(
    app: Celery,
) -> None:
    """Entries that differ only in their name: the first message of the definition is made
    from dicts, the next ones from its envelope's template with the task id, delivery tag,
    entry, occurrence and expiry filled in; each is the one apply_async sends (JSON braces
    and quotes in the arguments and headers, names that need escaping)."""
    clock = FakeClock(T0)
    store = connect(app, clock=clock)
    names = ["t1", "t2", 't3 "quoted" é', "t4 {braces}"]
    for name in names:
        store.save(
            Entry(
                name=name,
                task="tests.unknown",
                schedule=Interval(PERIOD),
                args=("{", '"}"'),
                kwargs={"text": '{"a": "}"} é'},
                options={"expires": 300, "headers": {"h": "{}"}},
            )
        )
    scheduler = Scheduler(app, clock=clock, holder="A")
    try:
        scheduler.tick()
        clock.advance(PERIOD)
        scheduler.tick()
        assert scheduler.publisher.messages_built == 1
    finally:
        scheduler.close()
    broker = Broker(app)
    sent = {m["headers"][ENTRY_HEADER]: m for m in broker.take()}
    assert sorted(sent) == sorted(names)
    tags = {m["properties"]["delivery_tag"] for m in sent.values()}
    assert len(tags) == len(names)
    assert_sent_as_apply_async_sends(app, store, broker, sent)


def tick_entries(app: Celery, entries: list[Entry]) -> dict[str, dict[str, Any]]:
    """Save ``entries``, tick one occurrence of each; return the messages by entry name."""
    clock = FakeClock(T0)
    store = connect(app, clock=clock)
    for entry in entries:
        store.save(entry)
    scheduler = Scheduler(app, clock=clock, holder="A")
    try:
        scheduler.tick()
        clock.advance(PERIOD)
        scheduler.tick()
    finally:
        scheduler.close()
    return {m["headers"][ENTRY_HEADER]: m for m in Broker(app).take()}


def test_arguments_masked_by_the_entrys_headers_stay_masked_in_every_message(
    app: Celery,
) -> None:
    """``argsrepr`` / ``kwargsrepr`` in the entry's headers hide secret arguments from
    Flower and the logs, as with apply_async: also for the entries whose message is made
    from another's (same task and options, other arguments)."""
    hidden = {"headers": {"argsrepr": "<hidden>", "kwargsrepr": "<hidden>"}}
    sent = tick_entries(
        app,
        [
            Entry(
                name=f"m{i}",
                task="tests.add",
                schedule=Interval(PERIOD),
                kwargs={"x": f"secret-{i}"},
                options=hidden,
            )
            for i in range(3)
        ],
    )
    assert sorted(sent) == ["m0", "m1", "m2"]
    for message in sent.values():
        assert (message["headers"]["argsrepr"], message["headers"]["kwargsrepr"]) == (
            "<hidden>",
            "<hidden>",
        )


def test_a_receiver_changing_a_nested_header_in_place_changes_only_its_own_message(
    app: Celery,
) -> None:
    """Celery makes new headers, nested values too, for each send; so does beat, for the
    messages of entries sharing one definition, when publish signals have receivers."""

    def trace(headers: dict[str, Any], **kwargs: Any) -> None:
        headers["nested"]["seen"].append(headers["id"])

    before_task_publish.connect(trace, weak=False)
    try:
        sent = tick_entries(
            app,
            [
                Entry(
                    name=f"s{i}",
                    task="tests.add",
                    schedule=Interval(PERIOD),
                    options={"headers": {"nested": {"seen": ["first"]}}},
                )
                for i in range(3)
            ],
        )
    finally:
        before_task_publish.disconnect(trace)
    assert sorted(sent) == ["s0", "s1", "s2"]
    for message in sent.values():
        assert message["headers"]["nested"] == {"seen": ["first", message["headers"]["id"]]}
