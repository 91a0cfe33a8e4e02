"""One pathological record never stops a Redis schedule (issue 12, item 1).

A stored record that decodes into an error other than bad JSON (a number past float range,
JSON nested far deeper than the recursion limit) used to escape the claim after the claim
script had moved the whole batch in flight: every tick failed, and the good entries of that
batch never ran again. A NaN jitter was read and failed the dispatch: the good entries were
sent but never acked, so each occurrence ran again and again. Now the record is reported as a
:class:`CorruptRecord`, taken out of flight and kept; the others are sent and acked as usual,
tick after tick.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
from celery import Celery

from beatcore import connect
from beatcore.scheduler import Scheduler
from beatcore.testing import DispatchRecorder, FakeClock, memory_broker_app, recording
from beatcore.testing.contract import T0, every
from beatcore_redis.store import RedisStore

PERIOD = 10
DEPTH = 100_000


def _replace(raw: bytes, field: str, literal: str) -> bytes:
    """``raw`` (a JSON object) with ``field`` set to the JSON text ``literal``, verbatim."""
    data = json.loads(raw)
    data[field] = "@@placeholder@@"
    return json.dumps(data).replace('"@@placeholder@@"', literal).encode()


def huge_run_count(store: RedisStore) -> None:
    raw = store.client.hget(store.keys.states, "victim")
    store.client.hset(store.keys.states, "victim", _replace(raw, "total_run_count", "1e400"))


def deep_definition(store: RedisStore) -> None:
    raw = store.client.hget(store.keys.defs, "victim")
    nested = '{"k": ' + "[" * DEPTH + "]" * DEPTH + "}"
    store.client.hset(store.keys.defs, "victim", _replace(raw, "kwargs", nested))


def deep_state(store: RedisStore) -> None:
    raw = store.client.hget(store.keys.states, "victim")
    store.client.hset(
        store.keys.states, "victim", _replace(raw, "last_error", "[" * DEPTH + "]" * DEPTH)
    )


def nan_jitter(store: RedisStore) -> None:
    raw = store.client.hget(store.keys.defs, "victim")
    store.client.hset(store.keys.defs, "victim", _replace(raw, "jitter", "NaN"))


CASES: dict[str, Callable[[RedisStore], None]] = {
    "total_run_count 1e400": huge_run_count,
    "definition nested 100,000 deep": deep_definition,
    "state nested 100,000 deep": deep_state,
    "definition with jitter NaN": nan_jitter,
}
UNREADABLE_DEFINITIONS = (deep_definition, nan_jitter)


@pytest.fixture(params=["fakeredis", "real"])
def app(request: pytest.FixtureRequest) -> Iterator[Celery]:
    prefix = f"patho-{uuid.uuid4().hex[:10]}:"
    if request.param == "fakeredis":
        client = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
        app = memory_broker_app(
            "redis://fake/0", beatcore_key_prefix=prefix, beatcore_store_options={"client": client}
        )
    else:
        app = memory_broker_app(request.getfixturevalue("redis_db").url, beatcore_key_prefix=prefix)
    yield app


@pytest.fixture
def recorder() -> Iterator[DispatchRecorder]:
    with recording() as recorder:
        yield recorder


@pytest.mark.parametrize("plant", CASES.values(), ids=CASES.keys())
def test_a_pathological_record_is_reported_and_kept_and_the_others_run(
    app: Celery,
    recorder: DispatchRecorder,
    caplog: pytest.LogCaptureFixture,
    plant: Callable[[RedisStore], None],
) -> None:
    clock = FakeClock(T0)
    store: Any = connect(app, clock=clock)
    assert isinstance(store, RedisStore)
    for name in ("a", "victim", "z"):
        store.save(every(name, PERIOD))
    plant(store)
    planted = (
        store.client.hget(store.keys.defs, "victim"),
        store.client.hget(store.keys.states, "victim"),
    )
    scheduler = Scheduler(app, clock=clock, holder="A")
    with caplog.at_level(logging.INFO, logger="beatcore"):
        for _ in range(3):
            clock.advance(PERIOD)
            scheduler.tick()
    assert "tick failed" not in caplog.text
    sent = [name for name, _, _ in recorder.sent]
    assert sorted(sent) == ["a", "a", "a", "z", "z", "z"]
    assert store.in_flight() == []
    assert [error.name for error in store.corrupt_records()] == ["victim"]
    assert [entry.name for entry in store.entries()] == (
        ["a", "z"] if plant in UNREADABLE_DEFINITIONS else ["a", "victim", "z"]
    )
    # kept as it was, out of the due index, reported once
    assert (
        store.client.hget(store.keys.defs, "victim"),
        store.client.hget(store.keys.states, "victim"),
    ) == planted
    assert store.client.zscore(store.keys.due, "victim") is None
    reports = [r for r in caplog.records if "'victim' cannot be read" in r.getMessage()]
    assert [r.name for r in reports] == ["beatcore.redis", "beatcore.scheduler"]  # one tick
    assert store.state("a").total_run_count == 3
    store.close()
