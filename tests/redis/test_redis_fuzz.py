"""The fuzz suite (beatcore.testing.fuzz) on the Redis store, on fakeredis and on a real
redis-server (where the Lua scripts are Redis's own, not fakeredis's emulation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import fakeredis
import pytest

from beatcore.store import Store
from beatcore.testing import FakeClock
from beatcore.testing.fuzz import OpenFuzzStore, PlantRaw, StoreFuzz
from beatcore_redis.store import RedisStore, open_store
from tests.support.redis_stores import delete_store_keys


def plant(store: Store, name: str, entry: bytes, state: bytes, due: datetime) -> None:
    """Write a record straight into the hashes and the due index."""
    assert isinstance(store, RedisStore)
    store.client.hset(store.keys.defs, name, entry)
    store.client.hset(store.keys.states, name, state)
    store.client.zadd(store.keys.due, {name: store.micros(due)})


class TestFakeRedisStoreFuzz(StoreFuzz):
    @pytest.fixture
    def open_fuzz_store(self, clock: FakeClock) -> OpenFuzzStore:
        def open_fresh() -> Store:
            client = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
            return open_store("redis://fake:6379/0", {"client": client, "clock": clock})

        return open_fresh

    @pytest.fixture
    def plant_raw_record(self) -> PlantRaw:
        return plant


class TestRealRedisStoreFuzz(StoreFuzz):
    @pytest.fixture
    def open_fuzz_store(self, clock: FakeClock, redis_server: Any) -> Iterator[OpenFuzzStore]:
        opened: list[RedisStore] = []

        def open_fresh() -> Store:
            prefix = f"fuzz-{uuid.uuid4().hex[:12]}:"
            store = open_store(redis_server.url, {"clock": clock, "key_prefix": prefix})
            opened.append(store)
            return store

        yield open_fresh
        for store in opened:
            delete_store_keys(store)
            store.close()

    @pytest.fixture
    def plant_raw_record(self) -> PlantRaw:
        return plant
