"""The store contract on the Redis store: on fakeredis (with Lua) and on a real redis-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import fakeredis
import pytest

from beatcore.testing import FakeClock, StoreContract
from beatcore.testing.contract import OpenStore, PlantCorrupt
from beatcore_redis.store import RedisStore, open_store
from tests.support.redis_stores import delete_store_keys


def plant_garbage(store: RedisStore, name: str, due_at: datetime) -> None:
    """Write an unreadable, due record ``name`` straight into the hashes."""
    store.client.hset(store.keys.defs, name, "{not json")
    store.client.hset(store.keys.states, name, '{"v": 1}')
    store.client.zadd(store.keys.due, {name: store.micros(due_at)})


class RedisContract(StoreContract):
    lock_expiry_follows_clock = False

    @pytest.fixture
    def plant_corrupt_record(self, store: RedisStore) -> PlantCorrupt:
        return lambda name, due_at: plant_garbage(store, name, due_at)


class TestFakeRedisStore(RedisContract):
    @pytest.fixture
    def store(self, clock: FakeClock) -> Iterator[RedisStore]:
        client = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
        store = open_store("redis://fake:6379/0", {"client": client, "clock": clock})
        yield store
        store.close()

    @pytest.fixture
    def open_second_store(self, store: RedisStore, clock: FakeClock) -> OpenStore:
        server = store.client.connection_pool.connection_kwargs["server"]
        client = fakeredis.FakeStrictRedis(server=server)
        return lambda: open_store("redis://fake:6379/0", {"client": client, "clock": clock})


@pytest.mark.redis_server
class TestRealRedisStore(RedisContract):
    @pytest.fixture
    def store(self, clock: FakeClock, redis_server: Any) -> Iterator[RedisStore]:
        # a unique prefix per test: tests never see each other's keys
        prefix = f"contract-{uuid.uuid4().hex[:12]}:"
        store = open_store(redis_server.url, {"clock": clock, "key_prefix": prefix})
        yield store
        delete_store_keys(store)
        store.close()

    @pytest.fixture
    def open_second_store(
        self, store: RedisStore, clock: FakeClock, redis_server: Any
    ) -> OpenStore:
        options = {"clock": clock, "key_prefix": store.keys.prefix}
        return lambda: open_store(redis_server.url, options)


class TestSentinelRedisStore(RedisContract):
    """Through Sentinel: every script call also WAITs for the replica (same round trip)."""

    @pytest.fixture
    def store(self, clock: FakeClock, redis_sentinel: Any) -> Iterator[RedisStore]:
        prefix = f"contract-{uuid.uuid4().hex[:12]}:"
        store = open_store(redis_sentinel.url, {"clock": clock, "key_prefix": prefix})
        assert store.calls.wait_replicas == 1
        yield store
        delete_store_keys(store)
        store.close()

    @pytest.fixture
    def open_second_store(
        self, store: RedisStore, clock: FakeClock, redis_sentinel: Any
    ) -> OpenStore:
        options = {"clock": clock, "key_prefix": store.keys.prefix}
        return lambda: open_store(redis_sentinel.url, options)
