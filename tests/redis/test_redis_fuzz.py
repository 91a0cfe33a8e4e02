"""The fuzz suite (beatcore.testing.fuzz) on the Redis store, on fakeredis."""

from __future__ import annotations

from datetime import datetime

import fakeredis
import pytest

from beatcore.store import Store
from beatcore.testing import FakeClock
from beatcore.testing.fuzz import OpenFuzzStore, PlantRaw, StoreFuzz
from beatcore_redis.store import RedisStore, open_store


class TestFakeRedisStoreFuzz(StoreFuzz):
    @pytest.fixture
    def open_fuzz_store(self, clock: FakeClock) -> OpenFuzzStore:
        def open_fresh() -> Store:
            client = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
            return open_store("redis://fake:6379/0", {"client": client, "clock": clock})

        return open_fresh

    @pytest.fixture
    def plant_raw_record(self) -> PlantRaw:
        def plant(store: Store, name: str, entry: bytes, state: bytes, due: datetime) -> None:
            assert isinstance(store, RedisStore)
            store.client.hset(store.keys.defs, name, entry)
            store.client.hset(store.keys.states, name, state)
            store.client.zadd(store.keys.due, {name: store.micros(due)})

        return plant
