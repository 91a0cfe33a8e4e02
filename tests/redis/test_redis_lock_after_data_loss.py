"""Fencing survives Redis losing its data (a restart without persistence, a FLUSHALL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from beatcore.errors import LockLost
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore_redis.store import RedisStore, open_store
from tests.support.redis_stores import delete_store_keys

pytestmark = pytest.mark.redis_server


@pytest.fixture
def store(redis_server: Any) -> Iterator[RedisStore]:
    prefix = f"loss-{uuid.uuid4().hex[:12]}:"
    store = open_store(redis_server.url, {"clock": FakeClock(T0), "key_prefix": prefix})
    yield store
    delete_store_keys(store)
    store.close()


def test_a_leader_from_before_the_loss_is_fenced_off(store: RedisStore) -> None:
    old = store.lock.acquire("beat-a:1:t", 30)
    assert old is not None
    delete_store_keys(store)
    store.save(every("a", 60))
    new = store.lock.acquire("beat-b:2:t", 30)
    assert new is not None
    assert new.token > old.token, "tokens must keep growing across a loss of data"
    with pytest.raises(LockLost):
        store.claim_due(old, T0, limit=10, reclaim_after=30)
    with pytest.raises(LockLost):
        store.ack(old, [])
    with pytest.raises(LockLost):
        store.lock.renew(old)
    assert store.claim_due(new, T0, limit=10, reclaim_after=30).claims == ()


def test_the_same_token_held_by_another_holder_is_refused(store: RedisStore) -> None:
    """Even were a token issued twice (a failover losing the fence's last writes), the holder
    named in the lease must match the lock's."""
    lease = store.lock.acquire("beat-a:1:t", 30)
    assert lease is not None
    impostor = type(lease)(token=lease.token, holder="beat-b:2:t", ttl=lease.ttl)
    with pytest.raises(LockLost):
        store.claim_due(impostor, T0, limit=10, reclaim_after=30)
    with pytest.raises(LockLost):
        store.lock.renew(impostor)
    store.claim_due(lease, T0, limit=10, reclaim_after=30)
