"""The static sync's shortcuts (digest of the static set, byte-for-byte compare, chunked
writes) and the variadic claim and ack scripts, on a real redis-server with round trips
counted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from beatcore import Entry, EntryState, Interval, storekit, timing
from beatcore.store import Ack
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore_redis import static_sync
from beatcore_redis.scripts import SCRIPT_NAMES, script_source
from beatcore_redis.store import RedisStore, open_store
from tests.redis.counting import RoundTrips, command_calls, counting_client

Counted = tuple[RedisStore, RoundTrips, FakeClock]


@pytest.fixture
def counted(redis_server: Any) -> Iterator[Counted]:
    clock = FakeClock(T0)
    client, trips = counting_client(redis_server.host, redis_server.port)
    prefix = f"sync-{uuid.uuid4().hex[:12]}:"
    store = open_store(redis_server.url, {"client": client, "clock": clock, "key_prefix": prefix})
    store.check()  # the startup checks run at the first sync; counted apart
    for name in SCRIPT_NAMES:  # loaded, so no NOSCRIPT answer adds a round trip
        client.script_load(script_source(name))
    yield store, trips, clock
    keys = client.keys(store.keys.base.replace("{", "[{]") + "*")
    if keys:
        client.delete(*keys)
    store.close()


def statics(n: int, seconds: float = 60, prefix: str = "s") -> list[Any]:
    return [every(f"{prefix}-{i:03d}", seconds, static=True) for i in range(n)]


def test_unchanged_static_set_is_one_round_trip(counted: Counted) -> None:
    store, trips, _ = counted
    first = store.sync_static(statics(20))
    assert len(first.added) == 20
    trips.reset()
    again = store.sync_static(statics(20))
    assert trips.count == 1
    assert again.unchanged == tuple(e.name for e in statics(20))
    assert (again.added, again.updated, again.removed) == ((), (), ())


def test_dynamic_writes_keep_the_digest_static_writes_drop_it(counted: Counted) -> None:
    store, trips, _ = counted
    store.sync_static(statics(3))
    store.save(every("dynamic", 60))
    trips.reset()
    assert store.sync_static(statics(3)).unchanged and trips.count == 1

    store.save(every("s-001", 5, static=True))  # a management change of a static entry
    trips.reset()
    report = store.sync_static(statics(3))
    assert report.updated == ("s-001",)
    assert trips.count == 3  # digest read, records read, one write pipeline
    assert store.get("s-001") == every("s-001", 60, static=True)

    store.delete("s-002")
    report = store.sync_static(statics(3))
    assert report.added == ("s-002",)
    trips.reset()
    assert len(store.sync_static(statics(3)).unchanged) == 3 and trips.count == 1


def test_entries_sharing_one_schedule_get_their_own_due_instants(counted: Counted) -> None:
    """New entries sharing a schedule share one state; each due score is still its own
    (jitter is per name, a disabled entry is not due)."""
    store, _, _ = counted
    hourly = Interval(3600)
    entries = [
        Entry(name=f"j-{i}", task="t", schedule=hourly, static=True, jitter=600 * i)
        for i in range(4)
    ]
    entries += [
        Entry(name="plain", task="t", schedule=hourly, static=True),
        Entry(name="off", task="t", schedule=hourly, static=True, enabled=False),
    ]
    assert len(store.sync_static(entries).added) == 6
    scores = {}
    for entry in entries:
        assert store.state(entry.name) == EntryState(next_run_at=T0 + timedelta(hours=1))
        due = timing.state_due_at(entry, store.state(entry.name))
        score = store.client.zscore(store.keys.due, entry.name)
        assert score == (None if due is None else storekit.to_micros(due)), entry.name
        scores[entry.name] = score
    assert len({scores[f"j-{i}"] for i in range(4)}) == 4
    assert scores["plain"] == scores["j-0"] and scores["off"] is None


def test_keep_is_part_of_the_digest(counted: Counted) -> None:
    store, _, _ = counted
    store.sync_static(statics(3))
    report = store.sync_static(statics(2), keep=["s-002"])
    assert report.removed == () and report.unchanged == ("s-000", "s-001")
    report = store.sync_static(statics(2))
    assert report.removed == ("s-002",)


def test_unchanged_bytes_need_no_write_but_store_the_digest(counted: Counted) -> None:
    store, trips, _ = counted
    store.sync_static(statics(5))
    store.client.hdel(store.keys.meta, "static_digest")  # e.g. written by an older version
    trips.reset()
    report = store.sync_static(statics(5))
    assert len(report.unchanged) == 5
    assert trips.count == 3
    trips.reset()
    store.sync_static(statics(5))
    assert trips.count == 1


def test_quarantined_record_drops_the_digest_and_the_next_sync_repairs_it(
    counted: Counted,
) -> None:
    store, _, clock = counted
    store.sync_static(statics(2))
    store.client.hset(store.keys.states, "s-000", b"{not json")
    lease = store.lock.acquire("sync-test", 30)
    assert lease is not None
    clock.advance(60)
    result = store.claim_due(lease, clock(), limit=10, reclaim_after=300)
    assert [error.name for error in result.corrupt] == ["s-000"]
    store.lock.release(lease)

    report = store.sync_static(statics(2))
    assert report.updated == ("s-000",)
    assert store.state("s-000").next_run_at is not None
    assert store.corrupt_records() == []


def test_large_sync_writes_in_chunks_in_one_round_trip(
    counted: Counted, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, trips, _ = counted
    monkeypatch.setattr(static_sync, "CHUNK", 4)
    with redis_server.client() as admin:
        before = command_calls(admin)
        trips.reset()
        report = store.sync_static(statics(10))
        after = command_calls(admin)
    assert len(report.added) == 10
    assert trips.count == 2  # digest read; an empty schedule's records are not read
    assert after["evalsha"] - before["evalsha"] == 1 + 3  # digest read, 3 chunks
    assert [e.name for e in store.entries()] == [e.name for e in statics(10)]
    trips.reset()
    assert len(store.sync_static(statics(10)).unchanged) == 10
    assert trips.count == 1


def test_conflict_in_one_chunk_rereads_and_reports_every_change_once(
    counted: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _, _ = counted
    monkeypatch.setattr(static_sync, "CHUNK", 2)
    store.sync_static(statics(6))
    planned = static_sync.StaticSync._plan
    calls: list[Any] = []

    def plan_then_change(self: static_sync.StaticSync, *args: Any) -> Any:
        plan = planned(self, *args)
        if not calls:  # a concurrent management write between this read and the write
            store.save(every("s-004", 7, static=True, args=(9,)))
        calls.append(plan)
        return plan

    monkeypatch.setattr(static_sync.StaticSync, "_plan", plan_then_change)
    report = store.sync_static(statics(6, seconds=30))
    assert len(calls) == 2
    assert report.updated == tuple(e.name for e in statics(6))
    assert report.added == report.removed == report.unchanged == ()
    assert [store.get(e.name) for e in statics(6)] == statics(6, seconds=30)
    # the concurrent write outdated the digest this sync started from; the retry stored its own
    assert store.client.hget(store.keys.meta, "static_digest") is not None


def test_a_first_sync_reads_no_records_unless_a_write_comes_between(
    counted: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a schedule holding no record every entry is new, so the records are not read; a
    save between that read and the write makes the write conflict, and the retry reads."""
    store, trips, _ = counted
    trips.reset()
    assert len(store.sync_static(statics(3)).added) == 3
    assert trips.count == 2  # digest and static set, one pipeline of writes
    for entry in statics(3):
        store.delete(entry.name)  # empty again (the static set's digest is gone)
    planned = static_sync.StaticSync._plan
    empty: list[bool] = []

    def plan_then_save(self: static_sync.StaticSync, members: list[str], nothing: bool) -> Any:
        plan = planned(self, members, nothing)
        if not empty:
            store.save(every("s-001", 7, static=True))
        empty.append(nothing)
        return plan

    monkeypatch.setattr(static_sync.StaticSync, "_plan", plan_then_save)
    report = store.sync_static(statics(3))
    assert empty == [True, False]
    assert (report.added, report.updated) == (("s-000", "s-002"), ("s-001",))
    assert store.entries() == statics(3)


def test_concurrent_static_write_leaves_no_digest(
    counted: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, trips, _ = counted
    store.sync_static(statics(3))
    planned = static_sync.StaticSync._plan

    def plan_then_change(self: static_sync.StaticSync, *args: Any) -> Any:
        plan = planned(self, *args)
        store.save(every("s-000", 7, static=True))  # not in this sync's writes: no conflict
        return plan

    monkeypatch.setattr(static_sync.StaticSync, "_plan", plan_then_change)
    store.sync_static(statics(3, seconds=60) + statics(1, prefix="extra"))
    monkeypatch.undo()
    assert store.client.hget(store.keys.meta, "static_digest") is None
    trips.reset()
    report = store.sync_static(statics(3) + statics(1, prefix="extra"))
    assert report.updated == ("s-000",)  # the full compare found the concurrent change
    assert trips.count == 3


def test_names_with_separators_and_multibyte_text_survive_claim_and_ack(
    counted: Counted,
) -> None:
    store, _, clock = counted
    names = ["café ✓", "a,b|c", "12,3"]
    store.sync_static([every(name, 60, static=True) for name in names])
    lease = store.lock.acquire("sync-test", 30)
    assert lease is not None
    clock.advance(60)
    claims = store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
    assert sorted(c.entry.name for c in claims) == sorted(names)
    nxt = clock() + timedelta(seconds=60)
    store.ack(
        lease,
        [Ack(c.entry.name, c.state, c.state.evolve(next_run_at=nxt, total_run_count=1), nxt)
         for c in claims],
    )  # fmt: skip
    for name in names:
        assert store.state(name).total_run_count == 1
        assert store.state(name).next_run_at == nxt
    assert store.in_flight() == []


def test_ack_of_more_entries_than_one_slice_writes_them_all(counted: Counted) -> None:
    store, trips, clock = counted
    store.sync_static(statics(1500))
    lease = store.lock.acquire("sync-test", 30)
    assert lease is not None
    clock.advance(60)
    claims = store.claim_due(lease, clock(), limit=2000, reclaim_after=300).claims
    assert len(claims) == 1500
    nxt = clock() + timedelta(seconds=60)
    last = clock() + timedelta(days=1)
    acks = [
        Ack(c.entry.name, c.state, c.state.evolve(next_run_at=nxt, total_run_count=1), nxt)
        for c in claims[:-1]
    ]
    final = claims[-1]
    acks.append(Ack(final.entry.name, final.state, final.state.evolve(next_run_at=None), None))
    trips.reset()
    store.ack(lease, acks)
    assert trips.count == 1
    assert store.in_flight() == []
    assert store.state("s-000").total_run_count == 1
    assert store.state("s-1498").next_run_at == nxt
    assert store.client.zscore(store.keys.due, claims[-1].entry.name) is None
    assert store.client.zcard(store.keys.due) == 1499
    assert store.status().next_due_at == nxt < last


def test_a_name_acked_twice_in_one_batch_is_merged_the_second_time(counted: Counted) -> None:
    store, trips, clock = counted
    store.sync_static(statics(2))
    lease = store.lock.acquire("sync-test", 30)
    assert lease is not None
    clock.advance(60)
    claims = store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
    first, second = clock() + timedelta(seconds=60), clock() + timedelta(seconds=120)
    a = claims[0]
    acks = [
        Ack(a.entry.name, a.state, a.state.evolve(next_run_at=first, total_run_count=1), first),
        Ack(claims[1].entry.name, claims[1].state, claims[1].state, first),
        Ack(a.entry.name, a.state, a.state.evolve(next_run_at=second, total_run_count=2), second),
    ]
    trips.reset()
    store.ack(lease, acks)
    assert trips.count == 3  # the ack, then the read and write of the merge of the second
    assert store.state(a.entry.name).total_run_count == 2
    assert store.in_flight() == []


def test_sync_updating_an_entry_in_flight_leaves_it_out_of_the_due_index(
    counted: Counted,
) -> None:
    store, _, clock = counted
    store.sync_static(statics(3))
    lease = store.lock.acquire("sync-test", 30)
    assert lease is not None
    clock.advance(60)
    claims = store.claim_due(lease, clock(), limit=1, reclaim_after=300).claims
    assert [c.entry.name for c in claims] == ["s-000"]
    report = store.sync_static(statics(2, seconds=30))
    assert report.updated == ("s-000", "s-001") and report.removed == ("s-002",)
    due = [_text(name) for name in store.client.zrange(store.keys.due, 0, -1)]
    assert due == ["s-001"]
    assert store.client.smembers(store.keys.static) == {b"s-000", b"s-001"}
    nxt = clock() + timedelta(seconds=30)
    a = claims[0]
    store.ack(lease, [Ack("s-000", a.state, a.state.evolve(next_run_at=nxt), nxt)])
    assert store.get("s-000") == every("s-000", 30, static=True)
    assert store.client.zscore(store.keys.due, "s-000") is not None
    assert store.in_flight() == []


def test_claim_of_more_than_one_slice_with_recovered_and_dangling_members(
    counted: Counted,
) -> None:
    store, trips, clock = counted
    store.sync_static(statics(1500))
    lease = store.lock.acquire("sync-test", 30)
    assert lease is not None
    clock.advance(60)
    first = [
        c.entry.name for c in store.claim_due(lease, clock(), limit=1200, reclaim_after=300).claims
    ]
    assert len(first) == 1200
    waiting = sorted({e.name for e in statics(1500)} - set(first))
    stale_gone, due_gone = first[5], waiting[100]
    # index members whose entry is gone (deleted behind the store's back)
    store.client.hdel(store.keys.defs, stale_gone, due_gone)
    store.client.zadd(store.keys.due, {"gone": 1})
    clock.advance(400)  # the first claims are stale now
    trips.reset()
    result = store.claim_due(lease, clock(), limit=1500, reclaim_after=300)
    assert trips.count == 1
    names = [c.entry.name for c in result.claims]
    recovered = [c.entry.name for c in result.claims if c.recovered]
    assert recovered == [name for name in first if name != stale_gone]
    assert names[:1199] == recovered
    # then the due ones, up to the limit: "gone" (due first) and due_gone are dropped
    assert names[1199:] == [name for name in waiting if name != due_gone][:299]
    for name in ("gone", due_gone):
        assert store.client.zscore(store.keys.due, name) is None
    assert store.client.hexists(store.keys.inflight, stale_gone) == 0
    assert store.client.zscore(store.keys.claimed, stale_gone) is None
    assert store.client.zcard(store.keys.claimed) == len(names)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_a_chunk_that_met_an_ack_stores_no_digest_and_is_written_by_the_retry(
    counted: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running leader acks a static entry of the first chunk between the sync's read and its
    write (a rolling deploy). Acks do not move the write generation, so the conflicting chunk
    itself must keep the last chunk from storing the digest of a set half written."""
    store, _, clock = counted
    monkeypatch.setattr(static_sync, "CHUNK", 2)
    store.sync_static(statics(6))
    clock.advance(61)
    lease = store.lock.acquire("leader", 30)
    assert lease is not None
    planned = static_sync.StaticSync._plan
    acked: list[str] = []

    def plan_then_ack(self: static_sync.StaticSync, *args: Any) -> Any:
        plan = planned(self, *args)
        if not acked:
            claim = store.claim_due(lease, clock(), limit=1, reclaim_after=300).claims[0]
            state = claim.state.evolve(total_run_count=1)
            store.ack(lease, [Ack(claim.entry.name, claim.state, state, clock())])
            acked.append(claim.entry.name)
        return plan

    monkeypatch.setattr(static_sync.StaticSync, "_plan", plan_then_ack)
    report = store.sync_static(statics(6, seconds=30))
    monkeypatch.undo()
    assert acked == ["s-000"]
    assert report.updated == tuple(e.name for e in statics(6))
    assert [store.get(e.name) for e in statics(6)] == statics(6, seconds=30)
    assert store.state("s-000").total_run_count == 1, "the ack is kept"
    again = store.sync_static(statics(6, seconds=30))
    assert again.unchanged == tuple(e.name for e in statics(6))
