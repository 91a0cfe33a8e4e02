"""The Redis store on a real three-master Redis Cluster (``redis+cluster://``).

All keys of a schedule share one hash tag, so the multi-key scripts run on a cluster; the whole
store contract is run against it. The lock lapses on Redis's clock (PX), not the fake one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

import beatcore
from beatcore import Entry, Interval, Store
from beatcore.store import Ack
from beatcore.testing import FakeClock, StoreContract
from beatcore.testing.contract import T0, PlantCorrupt
from beatcore_redis.keys import KeyLayout
from tests.support.redis_servers import RedisClusterGroup

pytestmark = pytest.mark.timeout(120)


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _delete_prefix(cluster: RedisClusterGroup, prefix: str) -> None:
    base = KeyLayout(prefix).base
    with cluster.client() as client:
        for key in list(client.scan_iter(match=base.replace("{", "\\{").replace("}", "\\}") + "*")):
            client.delete(key)


@pytest.fixture
def cluster_prefix(redis_cluster: RedisClusterGroup) -> Iterator[str]:
    """A key prefix of its own for each test, its keys deleted afterwards."""
    prefix = f"it-cluster-{uuid.uuid4().hex[:8]}:"
    yield prefix
    _delete_prefix(redis_cluster, prefix)


class TestClusterStoreContract(StoreContract):
    lock_expiry_follows_clock = False
    lock_ttl = 10.0
    real_ttl = 1.0
    """Long enough that a loaded two-core machine renews in time, short enough to wait for."""

    @pytest.fixture
    def store(
        self, clock: FakeClock, redis_cluster: RedisClusterGroup, cluster_prefix: str
    ) -> Iterator[Store]:
        store = beatcore.connect(redis_cluster.url, clock=clock, key_prefix=cluster_prefix)
        yield store
        store.close()

    @pytest.fixture
    def plant_corrupt_record(
        self, redis_cluster: RedisClusterGroup, cluster_prefix: str
    ) -> PlantCorrupt:
        keys = KeyLayout(cluster_prefix)

        def plant(name: str, due_at: datetime) -> None:
            with redis_cluster.client() as client:
                client.hset(keys.defs, name, "{not json")
                client.hset(keys.states, name, '{"v": 1}')
                client.zadd(keys.due, {name: _micros(due_at)})

        return plant


def test_every_key_of_a_schedule_lives_in_one_slot(
    redis_cluster: RedisClusterGroup, cluster_prefix: str
) -> None:
    clock = FakeClock(T0)
    store = beatcore.connect(redis_cluster.url, clock=clock, key_prefix=cluster_prefix)
    try:
        store.save(Entry(name="a", task="tests.noop", schedule=Interval(10)))
        lease = store.lock.acquire("cluster-it", 30)
        assert lease is not None
        clock.advance(10)
        claims = store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
        assert [c.entry.name for c in claims] == ["a"]
        claim = claims[0]
        store.ack(lease, [Ack("a", claim.state, claim.state.evolve(total_run_count=1), None)])
        assert store.state("a").total_run_count == 1
    finally:
        store.close()
    with redis_cluster.client() as client:
        base = KeyLayout(cluster_prefix).base
        pattern = base.replace("{", "\\{").replace("}", "\\}") + "*"
        keys = list(client.scan_iter(match=pattern))
        assert keys, "the store wrote no keys under its prefix"
        slots = {client.keyslot(key) for key in keys}
    assert len(slots) == 1, f"keys of one schedule spread over slots {slots}: {keys}"
