"""What workers report, on the Redis store: one round trip per report, the running fact in
the claim's own round trip, the log bounded and removed with the entry (the contract's
outcome clause runs in test_redis_contract.py and test_cluster.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from beatcore import report_log
from beatcore.store import Ack
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore.testing.contract.outcomes import OCC, report, running, sent_record
from beatcore_redis.store import RedisStore, open_store
from tests.redis.counting import counting_client
from tests.redis.fakes import fake_redis_store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(clock: FakeClock) -> Iterator[RedisStore]:
    yield from fake_redis_store(clock)


def sent(store: RedisStore, clock: FakeClock, **fact: object) -> None:
    """Save ``a`` (every 10 s), claim it at OCC and ack its send with a running fact."""
    store.save(every("a", 10))
    lease = store.lock.acquire("outcomes", 30)
    assert lease is not None
    clock.set(OCC)
    (claim,) = store.claim_due(lease, OCC, limit=10, reclaim_after=300).claims
    later = OCC + timedelta(hours=1)
    ack = Ack("a", claim.state, claim.state, later, runs=(sent_record("a", OCC),),
              running=running("a", OCC, **fact))  # fmt: skip
    store.ack(lease, [ack])
    store.lock.release(lease)


@pytest.mark.redis_server
def test_each_report_is_one_round_trip_and_the_claim_carries_the_fact(
    redis_server: Any, clock: FakeClock
) -> None:
    client, trips = counting_client(redis_server.host, redis_server.port)
    prefix = f"outcomes-{uuid.uuid4().hex[:8]}:"
    store = open_store(redis_server.url, {"client": client, "clock": clock, "key_prefix": prefix})
    try:
        sent(store, clock, held=OCC + timedelta(seconds=10))
        store.record_outcome(report("a", "started", OCC))  # loads the script
        for status in ("started", "succeeded"):
            trips.reset()
            store.record_outcome(report("a", status, OCC + timedelta(seconds=1), runtime=1.0))
            assert trips.count == 1, status
        lease = store.lock.acquire("outcomes", 30)
        assert lease is not None
        trips.reset()
        (claim,) = store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
        assert trips.count == 1
        assert claim.running is not None and claim.running.ended  # due at once: it ended
        assert store.history("a")[0].status == "succeeded"
    finally:
        client.delete(*client.keys(store.keys.base.replace("{", "[{]") + "*"))
        store.close()


def test_the_log_is_bounded_and_goes_with_the_entry(store: RedisStore, clock: FakeClock) -> None:
    sent(store, clock)
    kept = report_log.reports_kept(store.history_size)
    for i in range(kept + 5):
        store.record_outcome(report("a", "started", OCC + timedelta(seconds=i)))
    assert store.client.llen(store.keys.reports("a")) == kept
    # the record shows the reports kept: the five oldest starts are gone with the log's oldest
    assert store.history("a")[0].started_at == OCC + timedelta(seconds=5)
    assert store.client.hexists(store.keys.running, "a")
    store.delete("a")
    assert not store.client.exists(store.keys.reports("a"))
    assert not store.client.hexists(store.keys.running, "a")


def test_a_report_of_a_missing_entry_writes_no_key(store: RedisStore) -> None:
    store.record_outcome(report("missing", "succeeded", OCC))
    assert store.client.keys("*") == []


def test_a_log_key_of_another_type_never_stops_a_report_or_a_claim(
    store: RedisStore, clock: FakeClock
) -> None:
    sent(store, clock, held=OCC + timedelta(seconds=10))
    store.client.delete(store.keys.reports("a"))
    store.client.set(store.keys.reports("a"), "not a list")
    store.record_outcome(report("a", "succeeded", OCC, runtime=1.0))
    lease = store.lock.acquire("outcomes", 30)
    assert lease is not None
    (claim,) = store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
    assert claim.running == running("a", OCC, held=OCC + timedelta(seconds=10))
    assert store.history("a") == [sent_record("a", OCC)]


def test_a_report_after_the_ack_reaches_its_record(store: RedisStore, clock: FakeClock) -> None:
    """A report applies to the newest record of its task, when the history is read."""
    sent(store, clock)
    store.record_outcome(report("a", "succeeded", OCC + timedelta(seconds=2), runtime=2.0))
    (record,) = store.history("a")
    assert (record.status, record.runtime, record.finished_at) == (
        "succeeded",
        2.0,
        OCC + timedelta(seconds=2),
    )


def test_a_fact_claimed_and_never_acked_is_not_merged_into_a_later_one(
    store: RedisStore, clock: FakeClock
) -> None:
    """A claim carries the running fact it read, kept until that claim's ack; a claim of the
    same name that reads none (the entry deleted and saved again in between, which drops its
    fact) forgets it, so the later ack writes its own fact alone."""
    store.save(every("a", 10))
    lease = store.lock.acquire("outcomes", 3000)
    assert lease is not None
    clock.set(OCC)
    (claim,) = store.claim_due(lease, OCC, limit=10, reclaim_after=300).claims
    store.ack(lease, [Ack("a", claim.state, claim.state, OCC, runs=(sent_record("a", OCC),),
                          running=running("a", OCC, ended=True, held=None))])  # fmt: skip
    (claim,) = store.claim_due(lease, OCC, limit=10, reclaim_after=300).claims
    assert claim.running is not None  # claimed with its fact, never acked
    store.delete("a")
    clock.set(OCC + timedelta(seconds=30))
    store.save(every("a", 10))
    reclaimed_at = OCC + timedelta(seconds=60)
    clock.set(reclaimed_at)
    (claim,) = store.claim_due(lease, reclaimed_at, limit=10, reclaim_after=300).claims
    assert claim.running is None
    later = OCC + timedelta(seconds=70)
    store.ack(lease, [Ack("a", claim.state, claim.state, later, runs=(),
                          running=running("a", later))])  # fmt: skip
    fact = store.handle.client.hget(store.handle.keys.running, "a")
    assert b'"ended": false' in fact and b'"ended": true' not in fact
