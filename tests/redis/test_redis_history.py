"""The Redis store's run history: one list per entry under the schedule's hash tag, written by
the ack script, read in one round trip, removed with the entry (the contract's history clause
runs in test_redis_contract.py and test_cluster.py; these are the Redis-only parts)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from redis.crc import key_slot

from beatcore.store import Ack, RunRecord
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore.testing.contract.history import sent
from beatcore_redis.keys import KeyLayout
from beatcore_redis.store import RedisStore, open_store
from tests.redis.fakes import fake_redis_store
from tests.support.redis_stores import delete_store_keys


@pytest.fixture
def store(clock: FakeClock) -> Iterator[RedisStore]:
    yield from fake_redis_store(clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def run_once(store: RedisStore, clock: FakeClock, *runs: RunRecord) -> None:
    """Claim every due entry and ack each with ``runs`` (renamed to the entry)."""
    lease = store.lock.acquire("history-tests", 30)
    assert lease is not None
    claims = store.claim_due(lease, clock(), limit=100, reclaim_after=300).claims
    store.ack(
        lease,
        [
            Ack(c.entry.name, c.state, c.state, clock() + timedelta(hours=1), runs=runs)
            for c in claims
        ],
    )
    store.lock.release(lease)


def test_each_entry_has_a_list_in_the_schedules_hash_slot() -> None:
    keys = KeyLayout("app:beat:")
    assert keys.history("nightly {report}") == "{app:beat}:history:nightly {report}"
    slots = {key_slot(key.encode()) for key in (keys.defs, keys.history("a"), keys.history("{x}"))}
    assert len(slots) == 1


def test_the_history_list_holds_record_json_oldest_first(
    store: RedisStore, clock: FakeClock
) -> None:
    store.save(every("a", 10))
    clock.advance(10)
    run_once(store, clock, sent("a", 5), sent("a", 10))
    raw = store.client.lrange(store.keys.history("a"), 0, -1)
    assert [RunRecord.from_json(r) for r in raw] == [sent("a", 5), sent("a", 10)]
    assert raw[0] == sent("a", 5).to_json().encode()


def test_delete_and_the_static_sync_remove_the_history(store: RedisStore, clock: FakeClock) -> None:
    store.save(every("dynamic", 10))
    store.sync_static([every("static", 10, static=True)])
    clock.advance(10)
    run_once(store, clock, sent("x", 10))
    assert store.client.exists(store.keys.history("dynamic"), store.keys.history("static")) == 2
    store.delete("dynamic")
    store.sync_static([])
    assert store.client.exists(store.keys.history("dynamic"), store.keys.history("static")) == 0


@pytest.mark.parametrize("meanwhile", ["deleted", "saved"])
def test_an_entry_changed_in_flight_keeps_its_runs_deleted_gets_none(
    store: RedisStore, clock: FakeClock, meanwhile: str
) -> None:
    store.save(every("a", 10))
    clock.advance(10)
    lease = store.lock.acquire("history-tests", 30)
    assert lease is not None
    (claim,) = store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
    if meanwhile == "deleted":
        store.delete("a")
    else:
        store.save(every("a", 10, args=(1,)))
    store.ack(lease, [Ack("a", claim.state, claim.state, None, runs=(sent("a", 10),))])
    if meanwhile == "deleted":
        assert not store.client.exists(store.keys.history("a"))
    else:
        assert store.history("a") == [sent("a", 10)]


def test_a_history_key_of_another_type_never_stops_the_ack(
    store: RedisStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("a", "b"):
        store.save(every(name, 10))
    store.client.set(store.keys.history("a"), "not a list")
    clock.advance(10)
    run_once(store, clock, sent("x", 10))
    assert store.client.get(store.keys.history("a")) == b"not a list"
    assert store.state("a").next_run_at == store.state("b").next_run_at
    assert store.history("b") == [sent("x", 10)]
    with caplog.at_level(logging.WARNING, logger="beatcore.redis"):
        assert store.history("a") == []
    assert "run history of 'a' is unreadable" in caplog.text


def test_an_unreadable_record_is_left_out(store: RedisStore, clock: FakeClock) -> None:
    store.save(every("a", 10))
    clock.advance(10)
    run_once(store, clock, sent("a", 1), sent("a", 2))
    store.client.rpush(store.keys.history("a"), "{garbage")
    assert store.history("a", limit=2) == [sent("a", 2), sent("a", 1)]


@pytest.mark.redis_server
def test_memory_per_history_record(redis_server: Any, clock: FakeClock) -> None:
    """MEMORY USAGE of a full history (the default 100 records of sent runs), for the docs'
    sizing table; run with ``-s`` to see it."""
    prefix = f"mem-{uuid.uuid4().hex[:8]}:"
    store = open_store(redis_server.url, {"clock": clock, "key_prefix": prefix})
    try:
        store.save(every("nightly-report", 10))
        runs = [sent("nightly-report", s) for s in range(store.history_size)]
        clock.advance(10)
        run_once(store, clock, *runs)
        key = store.keys.history("nightly-report")
        assert store.client.llen(key) == store.history_size
        usage = store.client.memory_usage(key, samples=0)
        text = sum(len(run.to_json()) for run in runs) / len(runs)
        per_record = usage / len(runs)
        print(f"\nhistory of {len(runs)} records: {usage} B, {per_record:.0f} B per record "
              f"({text:.0f} B of JSON each)")  # fmt: skip
        assert per_record < text + 16
    finally:
        delete_store_keys(store)
        store.close()


def test_an_ack_sent_again_records_its_runs_once(store: RedisStore, clock: FakeClock) -> None:
    """A retry after a lost reply sends an ack Redis already ran: it finds no claim of this
    lease and records nothing again (the ack that took the claim out of flight did)."""
    store.save(every("a", 10))
    clock.advance(10)
    lease = store.lock.acquire("history-tests", 30)
    assert lease is not None
    (claim,) = store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
    ack = Ack("a", claim.state, claim.state, None, runs=(sent("a", 10),))
    store.ack(lease, [ack])
    store.ack(lease, [ack])
    store.ack(lease, [ack, ack])
    assert store.history("a") == [sent("a", 10)]


def test_last_runs_reads_past_keys_of_another_type_in_chunks(
    store: RedisStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``list``'s last-outcome column: a history key of another type reads as no run, a log
    key of another type as a run without worker facts; the others are read whatever chunk
    they fall in."""
    from beatcore_redis import reports

    monkeypatch.setattr(reports, "LAST_RUNS_CHUNK", 2)
    names = ["a", "b", "c", "d", "e"]
    for name in names:
        store.save(every(name, 10))
    clock.advance(10)
    run_once(store, clock, sent("x", 10))
    store.client.set(store.keys.history("b"), "not a list")
    store.client.set(store.keys.reports("c"), "not a list")
    last = store.last_runs([*names, "missing"])
    assert sorted(last) == ["a", "c", "d", "e"]
    assert all(run == sent("x", 10) for run in last.values())
