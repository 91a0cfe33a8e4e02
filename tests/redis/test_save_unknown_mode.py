"""The write script's ``'1'`` mode (one save of a name the writer never saw, the usual single
save) is a shorter path through ``write.lua``: from every kind of stored record it gives the
reply and leaves the keys that ``'m'`` (the batch path) gives for the same put."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from beatcore import serializer
from beatcore.entry import EntryState
from beatcore.testing.contract import T0, every
from beatcore_redis import writes
from beatcore_redis.scripts import script_source
from beatcore_redis.store import RedisStore, open_store
from tests.support.redis_stores import delete_store_keys, fake_or_real, store_keys

NAME = "job"
HOURLY = serializer.dumps_entry(every(NAME, 3600))
HOURLY_WITH_ARGS = serializer.dumps_entry(every(NAME, 3600, args=(7,)))
HOURLY_STATIC = serializer.dumps_entry(every(NAME, 3600, static=True))
MINUTELY = serializer.dumps_entry(every(NAME, 60))
STATE = serializer.dumps_state(EntryState(next_run_at=T0))

Setup = Callable[[Any, Any], None]


def _nothing(client: Any, keys: Any) -> None:
    pass


def _stored(definition: str | None, state: str | None, **extra: Any) -> Setup:
    """A setup storing ``definition`` and ``state`` (None: absent) under NAME, and the
    extras: ``corrupt``, ``inflight``, ``static``, ``due``, ``schema`` (False: no mark),
    ``digest`` (a static digest and generation in meta)."""

    def setup(client: Any, keys: Any) -> None:
        if definition is not None:
            client.hset(keys.defs, NAME, definition)
        if state is not None:
            client.hset(keys.states, NAME, state)
        if extra.get("corrupt"):
            client.hset(keys.corrupt, NAME, "noted unreadable")
        if extra.get("inflight"):
            client.hset(keys.inflight, NAME, "token")
        if extra.get("static"):
            client.sadd(keys.static, NAME)
        if extra.get("due"):
            client.zadd(keys.due, {NAME: 5})
        if extra.get("schema", True):
            client.hset(keys.meta, mapping={"schema": "1", "owner": "beatcore"})
        if extra.get("digest"):
            client.hset(keys.meta, mapping={"static_digest": "abc", "gen": 4})

    return setup


SCENARIOS: dict[str, Setup] = {
    "nothing stored": _nothing,
    "a state without its definition": _stored(None, STATE),
    "a definition without its state": _stored(HOURLY, None),
    "records noted unreadable": _stored(HOURLY, STATE, corrupt=True),
    "a corrupt note alone": _stored(None, None, corrupt=True),
    "in flight, not stored": _stored(None, None, inflight=True),
    "the same definition": _stored(HOURLY, STATE, due=True),
    "the same timing": _stored(HOURLY_WITH_ARGS, STATE, due=True, digest=True),
    "the same timing, static before": _stored(HOURLY_STATIC, STATE, static=True, digest=True),
    "another timing": _stored(MINUTELY, STATE, due=True),
    "an unreadable definition": _stored("{not json", STATE),
    "no schema mark yet": _stored(HOURLY_WITH_ARGS, STATE, schema=False),
    "a static digest stored": _stored(None, None, digest=True),
}

PUTS = {
    "hourly, due": writes.Put(NAME, writes.UNKNOWN, b"", HOURLY, STATE, "1767614400000000", False),
    "hourly, not due": writes.Put(NAME, writes.UNKNOWN, b"", HOURLY, STATE, "", False),
    "hourly, static": writes.Put(
        NAME, writes.UNKNOWN, b"", HOURLY_STATIC, STATE, "1767614400000000", True
    ),
}


@pytest.fixture(params=["fakeredis", "real"])
def store(request: pytest.FixtureRequest) -> Iterator[RedisStore]:
    opened = open_store(*fake_or_real(request, "mode1", {}))
    yield opened
    delete_store_keys(opened)
    opened.close()


def _snapshot(store: RedisStore) -> dict[bytes, Any]:
    """Every key of the store with its value, by type."""
    client = store.client
    found: dict[bytes, Any] = {}
    for key in store_keys(store):
        kind = client.type(key)
        if kind == b"hash":
            found[key] = client.hgetall(key)
        elif kind == b"zset":
            found[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            found[key] = client.smembers(key)
        else:
            found[key] = client.dump(key)
    return found


def _call(store: RedisStore, mode: writes.WriteMode, put: writes.Put) -> Any:
    """Run the write script in ``mode`` for ``put`` alone; return its reply."""
    keys = writes._keys(store.handle)
    args = [*writes._lead_args(mode, 0, ""), *put.script_args()]
    return store.client.eval(script_source("write"), len(keys), *keys, *args)


@pytest.mark.parametrize(
    ("scenario", "put"), list(itertools.product(SCENARIOS, PUTS)), ids="/".join
)
def test_mode_1_gives_what_m_gives(store: RedisStore, scenario: str, put: str) -> None:
    outcomes = []
    for mode in (writes.WriteMode.SAVES, writes.WriteMode.SAVE_UNKNOWN):
        delete_store_keys(store)
        SCENARIOS[scenario](store.client, store.keys)
        reply = _call(store, mode, PUTS[put])
        outcomes.append((reply, _snapshot(store)))
    assert outcomes[1] == outcomes[0]


#: What each scenario's save of "hourly, due" does: written new ([1]), written with the
#: stored state kept ([1, records]) or refused with the records found ([0, records]).
OUTCOMES = {
    "nothing stored": "new",
    "a state without its definition": "refused",
    "a definition without its state": "refused",
    "records noted unreadable": "refused",
    "a corrupt note alone": "new",
    "in flight, not stored": "new",
    "the same definition": "kept",
    "the same timing": "kept",
    "the same timing, static before": "kept",
    "another timing": "refused",
    "an unreadable definition": "refused",
    "no schema mark yet": "kept",
    "a static digest stored": "new",
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_has_its_outcome(store: RedisStore, scenario: str) -> None:
    """The cases above are not all one outcome: each gives the one the script documents."""
    SCENARIOS[scenario](store.client, store.keys)
    before = _snapshot(store)
    reply = _call(store, writes.WriteMode.SAVE_UNKNOWN, PUTS["hourly, due"])
    outcome = {(1, 1): "new", (1, 4): "kept", (0, 4): "refused"}[(int(reply[0]), len(reply))]
    assert outcome == OUTCOMES[scenario]
    if outcome == "refused":
        assert _snapshot(store) == before
    else:
        assert store.client.hget(store.keys.defs, NAME) == HOURLY.encode()


def test_a_single_save_of_an_unseen_name_uses_mode_1(store: RedisStore) -> None:
    """Only a put expecting UNKNOWN goes as '1'; a put of records the store saw goes as 'm'."""
    sent: list[str] = []
    scripts = store.handle.calls.scripts
    run = scripts.run_prepared

    def spy(call: Any, args: Any) -> Any:
        sent.append(call.fixed[1])
        return run(call, args)

    scripts.run_prepared = spy  # type: ignore[method-assign]
    store.save(every(NAME, 3600))
    store.save(every(NAME, 3600, args=(1,)))
    assert sent == ["1", "m"]
