"""The entry name rule on the Redis store (issue 12 item 6; the rule and the memory and SQLite
cases are in tests/core/test_entry_names.py): a record whose name predates the rule, NUL
included, is listed, claimed once per occurrence, acked, disabled and removed; a new one is
refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import fakeredis
import pytest

from beatcore.testing.clock import FakeClock
from beatcore_redis.store import RedisStore, open_store
from tests.core.test_entry_names import REFUSED, T0, assert_a_legacy_name_lives_like_any_other
from tests.support.redis_stores import delete_store_keys


def plant(store: RedisStore) -> Any:
    def write(name: str, entry_raw: str, state_raw: str, due_at: datetime) -> None:
        store.client.hset(store.keys.defs, name, entry_raw)
        store.client.hset(store.keys.states, name, state_raw)
        store.client.zadd(store.keys.due, {name: store.micros(due_at)})

    return write


@pytest.fixture(params=["fakeredis", pytest.param("redis-server", marks=pytest.mark.redis_server)])
def store(request: pytest.FixtureRequest) -> Iterator[RedisStore]:
    clock = FakeClock(T0)
    if request.param == "fakeredis":
        client = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
        opened = open_store("redis://fake:6379/0", {"client": client, "clock": clock})
    else:
        server = request.getfixturevalue("redis_server")
        prefix = f"names-{uuid.uuid4().hex[:12]}:"
        opened = open_store(server.url, {"clock": clock, "key_prefix": prefix})
    yield opened
    delete_store_keys(opened)
    opened.close()


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_a_legacy_name_lives_on_redis(store: RedisStore, name: str) -> None:
    assert_a_legacy_name_lives_like_any_other(store, plant(store), name)
