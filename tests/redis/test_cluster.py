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
from beatcore.testing.contract import T0, OpenStore, PlantCorrupt
from beatcore.testing.contract.history import sent
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

    @pytest.fixture
    def open_second_store(
        self, clock: FakeClock, redis_cluster: RedisClusterGroup, cluster_prefix: str
    ) -> OpenStore:
        return lambda: beatcore.connect(redis_cluster.url, clock=clock, key_prefix=cluster_prefix)


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
        runs = (sent("a", 10),)  # its history list is a key of the schedule too
        store.ack(
            lease, [Ack("a", claim.state, claim.state.evolve(total_run_count=1), None, runs=runs)]
        )
        assert store.state("a").total_run_count == 1
        assert store.history("a") == list(runs)
    finally:
        store.close()
    with redis_cluster.client() as client:
        base = KeyLayout(cluster_prefix).base
        pattern = base.replace("{", "\\{").replace("}", "\\}") + "*"
        keys = list(client.scan_iter(match=pattern))
        assert KeyLayout(cluster_prefix).history("a").encode() in keys
        slots = {client.keyslot(key) for key in keys}
    assert len(slots) == 1, f"keys of one schedule spread over slots {slots}: {keys}"


def test_static_sync_in_several_chunks_and_its_digest_on_a_cluster(
    redis_cluster: RedisClusterGroup, cluster_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beatcore_redis import static_sync

    monkeypatch.setattr(static_sync, "CHUNK", 3)
    entries = [
        Entry(name=f"s{i}", task="tests.noop", schedule=Interval(10), static=True)
        for i in range(10)
    ]
    store = beatcore.connect(redis_cluster.url, clock=FakeClock(T0), key_prefix=cluster_prefix)
    try:
        store.save(Entry(name="s9", task="tests.noop", schedule=Interval(99), static=True))
        report = store.sync_static(entries)
        assert (len(report.added), report.updated) == (9, ("s9",))
        with redis_cluster.client() as client:
            meta = KeyLayout(cluster_prefix).meta
            assert client.hget(meta, "static_digest") is not None
        assert store.sync_static(entries).unchanged == tuple(e.name for e in entries)
        loaded: list[str] = []
        scripts = store.calls.scripts  # type: ignore[attr-defined]
        load = scripts.load

        def recording_load(name: str) -> None:
            loaded.append(name)
            load(name)

        monkeypatch.setattr(scripts, "load", recording_load)
        with redis_cluster.client() as client:
            client.script_flush()  # the read and the chunks meet NOSCRIPT: loaded, sent again
        assert store.sync_static(entries[:4]).removed == tuple(e.name for e in entries[4:])
        assert loaded == ["static_read", "write"]
    finally:
        store.close()


def test_the_change_log_of_an_earlier_release_migrates_on_a_cluster(
    redis_cluster: RedisClusterGroup, cluster_prefix: str, fake_clock: FakeClock
) -> None:
    """The per-name lists of the earlier change-log layout are found by SCAN on every node
    and moved into the hash by the first change written; reads are the same before and after."""
    from beatcore.store import Change

    store = beatcore.connect(redis_cluster.url, clock=fake_clock, key_prefix=cluster_prefix)
    base = KeyLayout(cluster_prefix).base
    old = [Change(name, "add", T0, by="beat@host") for name in ("a", "b", "c")]
    with redis_cluster.client() as client:
        for change in old:
            client.lpush(f"{base}changes:{change.name}", change.to_json())
            client.lpush(f"{base}changelog", change.to_json())
    assert store.changes("b") == [old[1]]
    store.record_changes([Change("a", "trigger", T0, by="ops@host")])
    assert [c.action for c in store.changes("a")] == ["trigger", "add"]
    assert store.changes("c") == [old[2]]
    with redis_cluster.client() as client:
        assert list(client.scan_iter(match=f"{base}changes:*".replace("{", "\\{"))) == []
    store.close()
