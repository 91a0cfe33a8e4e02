"""Bad data under the prefix: corrupt records are reported and skipped, never deleted; a key of
a foreign type fails with an error naming it; the startup checks warn about what they find."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from beatcore.errors import CorruptRecord, EntryNotFound, LockLost, StoreError
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore_redis.store import RedisStore, open_store
from tests.support.redis_servers import RedisServer
from tests.support.redis_stores import delete_store_keys, fake_or_real


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=["fakeredis", "real"])
def store(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[RedisStore]:
    opened = open_store(*fake_or_real(request, "data", {"clock": clock}))
    yield opened
    delete_store_keys(opened)
    opened.close()


def test_garbage_definition_and_state_are_reported_skipped_and_kept(
    store: RedisStore, clock: FakeClock
) -> None:
    store.save(every("good", 10))
    store.save(every("bad-state", 10))
    store.save(every("bad-def", 10))
    store.client.hset(store.keys.states, "bad-state", b"\xff\xfe not json")
    store.client.hset(store.keys.defs, "bad-def", '{"v": 1, "name": "bad-def", "task": "t", '
                      '"schedule": {"type": "no-such-type"}}')  # fmt: skip
    assert [e.name for e in store.entries()] == ["bad-state", "good"]
    errors = {err.name: err.cause for err in store.corrupt_records()}
    assert set(errors) == {"bad-def", "bad-state"}
    assert "no-such-type" in errors["bad-def"]
    assert "not valid JSON" in errors["bad-state"]
    with pytest.raises(CorruptRecord, match="bad-state"):
        store.state("bad-state")

    lease = store.lock.acquire("tests", 30)
    assert lease is not None
    clock.advance(10)
    result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    assert [c.entry.name for c in result.claims] == ["good"]
    assert sorted(err.name for err in result.corrupt) == ["bad-def", "bad-state"]
    # reported once: out of the due index and out of flight, cause recorded, record kept
    assert store.in_flight()[0].name == "good" and len(store.in_flight()) == 1
    recorded = store.client.hgetall(store.keys.corrupt)
    assert set(recorded) == {b"bad-def", b"bad-state"}
    assert store.client.hexists(store.keys.defs, "bad-def")
    clock.advance(60)
    again = store.claim_due(lease, clock(), limit=10, reclaim_after=300)
    assert again.corrupt == ()

    # fixing the record by saving the entry brings it back
    store.save(every("bad-def", 10))
    assert not store.client.hexists(store.keys.corrupt, "bad-def")
    clock.advance(10)
    names = [
        c.entry.name for c in store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
    ]
    assert "bad-def" in names


def test_definition_without_state_is_corrupt_not_missing(store: RedisStore) -> None:
    store.save(every("a", 10))
    store.client.hdel(store.keys.states, "a")
    with pytest.raises(CorruptRecord, match="state: missing"):
        store.state("a")
    assert [err.name for err in store.corrupt_records()] == ["a"]
    with pytest.raises(EntryNotFound):
        store.state("nope")


def test_record_of_a_newer_format_is_reported(store: RedisStore) -> None:
    store.save(every("a", 10))
    store.client.hset(store.keys.defs, "a", '{"v": 99}')
    with pytest.raises(CorruptRecord, match="format version 99"):
        store.get("a")


def test_wrong_type_key_under_prefix_fails_with_its_name(
    store: RedisStore, clock: FakeClock
) -> None:
    store.save(every("a", 10))
    lease = store.lock.acquire("tests", 30)
    assert lease is not None
    store.client.delete(store.keys.due)
    store.client.set(store.keys.due, "someone else's string")
    with pytest.raises(StoreError) as caught:
        store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    message = str(caught.value)
    assert f"key {store.keys.due!r} is a string, beatcore expects a zset" in message
    assert "beatcore_key_prefix" in message
    with pytest.raises(StoreError, match="expects a zset"):
        store.save(every("b", 10))


def test_check_warns_about_foreign_keys(
    store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.client.sadd(store.keys.defs, "not-a-hash")
    with caplog.at_level(logging.WARNING, logger="beatcore.redis"):
        warnings = store.check()
    assert any("is a set, beatcore expects a hash" in w and store.keys.defs in w for w in warnings)
    assert any("is a set" in r.getMessage() for r in caplog.records)


def test_check_warns_about_unmarked_keys_and_newer_schema(store: RedisStore) -> None:
    store.client.hset(store.keys.states, "x", "{}")
    assert any("carry no beatcore mark" in w for w in store.check())
    store.client.hset(store.keys.meta, mapping={"owner": "beatcore", "schema": "7"})
    assert any("data layout 7" in w for w in store.check())


def test_check_is_quiet_on_our_own_keys(store: RedisStore) -> None:
    store.save(every("a", 10))
    assert store.check() == []


def test_first_static_sync_runs_the_checks_once(store: RedisStore) -> None:
    store.client.hset(store.keys.states, "x", "{}")
    calls: list[list[str]] = []
    real = store.check

    def counted_check() -> list[str]:
        calls.append(real())
        return calls[-1]

    store.check = counted_check  # type: ignore[method-assign]
    store.sync_static([every("s", 10, static=True)])
    store.sync_static([every("s", 10, static=True)])
    assert len(calls) == 1 and any("no beatcore mark" in w for w in calls[0])


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "checks", ["--rename-command", "CONFIG", ""])
    server.start()
    yield server
    server.stop()


def test_check_warns_about_eviction_policy(redis_server: Any) -> None:
    store = open_store(redis_server.url, {"key_prefix": f"evict-{uuid.uuid4().hex[:8]}:"})
    admin = redis_server.client()
    old = admin.config_get("maxmemory-policy")["maxmemory-policy"]
    try:
        admin.config_set("maxmemory-policy", "allkeys-lru")
        assert any("maxmemory-policy allkeys-lru" in w for w in store.check())
        admin.config_set("maxmemory-policy", "volatile-lru")
        assert store.check() == []
    finally:
        admin.config_set("maxmemory-policy", old)
        admin.close()
        store.close()


def test_check_survives_disabled_config_and_warns_about_replica(
    private_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(private_server.url, {})
    with caplog.at_level(logging.INFO, logger="beatcore.redis"):
        assert store.check() == []
    assert any("cannot read maxmemory-policy" in r.getMessage() for r in caplog.records)
    store.close()

    replica = RedisServer(
        tmp_path / "replica", ["--replicaof", private_server.host, str(private_server.port)]
    )
    replica.start()
    try:
        on_replica = open_store(replica.url, {})
        assert any("is a replica" in w for w in on_replica.check())
        with pytest.raises(StoreError, match="read-only replica"):
            on_replica.save(every("a", 10))
        on_replica.close()
    finally:
        replica.stop()


def test_last_tick_and_lock_holder_are_readable(store: RedisStore, clock: FakeClock) -> None:
    lease = store.lock.acquire("host:1:2026-01-05T12:00:00Z", 30)
    assert lease is not None
    store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    info = store.lock.current()
    assert info is not None
    assert (info.holder, info.token, info.acquired_at) == (
        "host:1:2026-01-05T12:00:00Z",
        lease.token,
        T0,
    )
    assert info.expires_at is not None and T0 < info.expires_at <= T0 + timedelta(seconds=30)
    assert store.status().last_tick_at == T0


def test_lock_lost_says_who_holds_the_lock_now(store: RedisStore, clock: FakeClock) -> None:
    old = store.lock.acquire("old-host:1:t", 30)
    assert old is not None
    store.lock.release(old)
    with pytest.raises(LockLost, match="expired or was released"):
        store.claim_due(old, clock(), limit=10, reclaim_after=30)
    assert store.lock.acquire("new-host:2:t", 30) is not None
    with pytest.raises(LockLost, match="new-host:2:t holds the lock now"):
        store.lock.renew(old)
    with pytest.raises(LockLost, match="new-host:2:t holds the lock now"):
        store.ack(old, [])


def test_unreadable_noted_with_the_cause_alone_still_reads(store: RedisStore) -> None:
    """The ``corrupt`` hash held the cause alone before since-when was kept: such a value
    reads as its cause with no time, and a value that only looks like ours is shown as is."""
    store.client.hset(store.keys.corrupt, "old", "definition: unknown schedule type 'x'")
    store.client.hset(store.keys.corrupt, "odd", '{"cause": 1')
    noted = {error.name: (error.cause, error.since) for error in store.unreadable_records()}
    assert noted == {
        "old": ("definition: unknown schedule type 'x'", None),
        "odd": ('{"cause": 1', None),
    }
