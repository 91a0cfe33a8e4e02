"""A Redis envelope filled into its template is byte for byte the one built from dicts.

From a definition's second send on, ``beatcore.redis_broker`` writes a message by filling its
envelope's JSON template (task id, delivery tag, entry name, occurrence, expires); with a
``before_task_publish`` or ``after_task_publish`` receiver, or for a definition's first send,
it builds the envelope from dicts and kombu's encoder, as ``Producer.publish`` does (and
``test_message_identity`` holds that against ``apply_async``). Here the same entries are sent
both ways, on a real ``redis-server``, and the raw JSON of each message is compared: the same
bytes, in the same list, but for the delivery tag (random), the ``expires`` instant (counted
from each send) and ``reply_to`` (the app's own: one app per way).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from celery.signals import before_task_publish
from kombu import Queue

from beatcore import Entry, Interval, connect
from beatcore.publisher import ENTRY_HEADER
from beatcore.scheduler import Scheduler
from beatcore.testing import FakeClock, forget_memory_schedule, memory_broker_app
from beatcore.testing.contract import T0
from tests.support.redis_servers import RedisServer

pytestmark = [pytest.mark.timeout(60), pytest.mark.redis_server]

PERIOD = 10
OCCURRENCE = T0 + timedelta(seconds=PERIOD)

#: Entry names the template path quotes itself (or hands to the encoder): plain, JSON's own
#: escapes, non-ASCII, characters that are not printable, braces.
NAMES = ["plain", 'a "quoted" name', "back\\slash", "é ✓", "soft\u00adhyphen", "{braces}: [1]"]

#: (task, args, kwargs, options) of each definition: each is sent for every name in NAMES.
DEFINITIONS: list[tuple[str, tuple[Any, ...], dict[str, Any], dict[str, Any]]] = [
    ("tests.add", (), {}, {}),
    ("tests.add", (1, 2), {}, {"priority": 3}),
    ("tests.unknown", (), {"text": '{"a": "}"} é', "n": [1, 2.5, None]}, {"queue": "other"}),
    ("tests.add", (), {"x": 1}, {"expires": 300, "headers": {"h": "{}", "nested": {"a": [1]}}}),
    ("tests.add", ("{",), {}, {"queue": "other", "priority": 9, "time_limit": 30}),
    ("tests.unknown", (), {}, {"routing_key": "other", "ignore_result": True}),
    ("tests.add", (), {}, {"expires": 60.5, "soft_time_limit": 5, "serializer": "json"}),
]

_TAG = re.compile(r'"delivery_tag": "[0-9a-f-]{36}"')
_EXPIRES = re.compile(r'"expires": "[^"]+"')
_REPLY_TO = re.compile(r'"reply_to": "[0-9a-f-]{36}"')  # the app's own (one app per run)


def sent_texts(redis_db: RedisServer, db: int, receivers: bool) -> dict[tuple[str, str], str]:
    """Send one occurrence of every definition under every name (the first of a definition
    from dicts, the rest from its template unless ``receivers``); return each message's raw
    JSON by (list, entry name), the tag and expiry masked."""
    name = f"templates-{uuid.uuid4()}"
    app = memory_broker_app(
        f"memory://{name}",
        broker_url=redis_db.url_for(db),
        task_queues=[Queue("default-q"), Queue("other")],
        task_default_queue="default-q",
        broker_transport_options={"queue_order_strategy": "priority"},
    )
    clock = FakeClock(T0)
    store = connect(app, clock=clock)
    for number, (task, args, kwargs, options) in enumerate(DEFINITIONS):
        for entry_name in NAMES:
            store.save(
                Entry(
                    name=f"{number} {entry_name}",
                    task=task,
                    schedule=Interval(PERIOD),
                    args=args,
                    kwargs=kwargs,
                    options=options,
                )
            )

    def receiver(**_: Any) -> None:
        pass

    if receivers:
        before_task_publish.connect(receiver, weak=False)
    scheduler = Scheduler(app, clock=clock, holder="A")
    try:
        scheduler.tick()
        clock.advance(PERIOD)
        scheduler.tick()
        assert scheduler.publisher.messages_built == len(DEFINITIONS)
    finally:
        scheduler.close()
        before_task_publish.disconnect(receiver)
        forget_memory_schedule(name)
    texts: dict[tuple[str, str], str] = {}
    with redis_db.client(db) as client:
        for key in client.keys("*"):
            if client.type(key) != b"list":
                continue
            for raw in client.lrange(key, 0, -1):
                text = _TAG.sub("<tag>", _REPLY_TO.sub("<reply_to>", raw.decode()))
                text = _EXPIRES.sub('"expires": "<expires>"', text)
                entry = re.search(rf'"{ENTRY_HEADER}": ("(?:[^"\\]|\\.)*")', text)
                assert entry is not None and OCCURRENCE.isoformat() in text
                texts[(key.decode(), entry.group(1))] = text
        client.flushdb()
    return texts


def test_a_filled_template_is_the_envelope_built_from_dicts(redis_db: RedisServer) -> None:
    """Every message of varied definitions (options, args and kwargs, expires, priorities,
    queues, routing keys, headers; names needing JSON escapes) is the same JSON, byte for
    byte, whether its envelope was filled into the template or built from dicts."""
    templated = sent_texts(redis_db, 3, receivers=False)
    from_dicts = sent_texts(redis_db, 4, receivers=True)
    assert len(templated) == len(DEFINITIONS) * len(NAMES)
    assert templated.keys() == from_dicts.keys()
    for where, text in templated.items():
        assert text == from_dicts[where], where
