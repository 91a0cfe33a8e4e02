"""What each store call costs on a real redis-server: round trips and server commands.

The design's budget: a tick with nothing due is one round trip (one EVALSHA); claiming and
acking k due entries is a constant number of round trips, whatever k; the static sync of N
entries is a constant number too. Counted on the client (one ``send_packed_command`` per round
trip) and on the server (``INFO commandstats``), never timed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from beatcore import serializer
from beatcore.store import Ack
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore.testing.contract.history import sent
from beatcore_redis import saving
from beatcore_redis.store import RedisStore, open_store
from tests.redis.counting import RoundTrips, acks_run_once, command_calls, counting_client


@pytest.fixture
def counted(redis_server: Any) -> Iterator[tuple[RedisStore, RoundTrips, FakeClock]]:
    clock = FakeClock(T0)
    client, trips = counting_client(redis_server.host, redis_server.port)
    prefix = f"trips-{uuid.uuid4().hex[:12]}:"
    store = open_store(redis_server.url, {"client": client, "clock": clock, "key_prefix": prefix})
    yield store, trips, clock
    keys = client.keys(store.keys.base.replace("{", "[{]") + "*")
    if keys:
        client.delete(*keys)
    store.close()


def dispatch(
    store: RedisStore, k: int, clock: FakeClock, trips: RoundTrips, admin: Any, runs: int = 0
) -> dict[str, int]:
    """Claim and ack k due entries, each ack with ``runs`` run records; return the round
    trips and server commands of each."""
    lease = store.lock.acquire("counter", 30)
    assert lease is not None
    store.claim_due(lease, clock(), limit=10_000, reclaim_after=300)  # loads the claim script
    store.ack(lease, [])  # loads the ack script
    for i in range(k):
        store.save(every(f"k{k}-{i:04d}", 60))
    clock.advance(60)
    before = command_calls(admin)
    trips.reset()
    result = store.claim_due(lease, clock(), limit=10_000, reclaim_after=300)
    claim_trips = trips.count
    middle = command_calls(admin)
    assert len(result.claims) == k
    nxt = clock() + timedelta(days=1)
    acks = acks_run_once(result.claims, nxt, runs)
    trips.reset()
    store.ack(lease, acks)
    ack_trips = trips.count
    after = command_calls(admin)
    store.lock.release(lease)
    # INFO itself is counted by the server: leave it out
    return {
        "claim_trips": claim_trips,
        "ack_trips": ack_trips,
        "claim_commands": sum(middle.values()) - sum(before.values()) - 1,
        "ack_commands": sum(after.values()) - sum(middle.values()) - 1,
    }


def test_idle_tick_is_one_evalsha(redis_server: Any, counted: Any) -> None:
    store, trips, clock = counted
    store.save(every("later", 3600))
    lease = store.lock.acquire("counter", 30)
    assert lease is not None
    store.claim_due(lease, clock(), limit=100, reclaim_after=30)  # first call loads the script
    admin = redis_server.client()
    before = command_calls(admin)
    trips.reset()
    result = store.claim_due(lease, clock(), limit=100, reclaim_after=30)
    after = command_calls(admin)
    admin.close()
    assert result.claims == () and result.next_due_at == T0 + timedelta(hours=1)
    assert trips.count == 1
    assert trips.commands[0].startswith(b"*") and b"EVALSHA" in trips.commands[0].upper()
    assert after["evalsha"] - before["evalsha"] == 1
    assert after.get("script|load", 0) == before.get("script|load", 0)


@pytest.mark.parametrize("k", [1, 10, 200])
def test_claim_and_ack_of_k_due_entries_cost_two_round_trips(
    k: int, counted: Any, redis_server: Any
) -> None:
    store, trips, clock = counted
    with redis_server.client() as admin:
        cost = dispatch(store, k, clock, trips, admin)
    assert (cost["claim_trips"], cost["ack_trips"]) == (1, 1)


def test_server_side_commands_per_dispatched_entry(counted: Any, redis_server: Any) -> None:
    """Inside the scripts, the Redis commands do not grow with the entries (for the docs): the
    claim and the ack use one variadic command per key for up to 1,000 entries."""
    store, trips, clock = counted
    with redis_server.client() as admin:
        small = dispatch(store, 10, clock, trips, admin)
        large = dispatch(store, 30, clock, trips, admin)
    claim_per_entry = (large["claim_commands"] - small["claim_commands"]) / 20
    ack_per_entry = (large["ack_commands"] - small["ack_commands"]) / 20
    assert (claim_per_entry, ack_per_entry) == (0, 0)
    # claim: EVALSHA, HMGET lock token and holder, PEXPIRE, HSET meta, ZRANGEBYSCORE claimed,
    # ZRANGE first due, ZRANGEBYSCORE due, HMGET defs, states and running facts, ZREM due,
    # HSET in-flight, ZADD claimed, ZRANGE first due after (and one LRANGE of its report log
    # per entry that has a running fact: an entry with an overlap policy);
    # ack: EVALSHA, HGET lock token, HGET lock holder, PEXPIRE, HMGET in-flight, defs and
    # states, HDEL in-flight, ZREM claimed, HSET states, ZADD due
    assert (small["claim_commands"], small["ack_commands"]) == (14, 11)


def test_run_history_costs_no_round_trip_and_one_or_two_commands_per_entry(
    counted: Any, redis_server: Any
) -> None:
    """The run records ride in the ack's own script call (still one round trip for any k):
    one RPUSH per entry onto its history list, and one LTRIM once the list is longer than
    the history size (a list per entry cannot be written with one command for all)."""
    store, trips, clock = counted
    with redis_server.client() as admin:
        for k in (10, 30):
            cost = dispatch(store, k, clock, trips, admin, runs=3)
            assert (cost["claim_trips"], cost["ack_trips"]) == (1, 1)
            assert cost["ack_commands"] == 11 + k  # RPUSH of each entry's three records
        # the k = 10 entries hold three records each: with a size of 2 each ack trims
        store.history_size = 2
        names = [f"k10-{i:04d}" for i in range(10)]
        for name in names:
            store.trigger(name)
        lease = store.lock.acquire("counter", 30)
        assert lease is not None
        claims = store.claim_due(lease, clock(), limit=100, reclaim_after=300).claims
        assert sorted(c.entry.name for c in claims) == names
        acks = [
            Ack(c.entry.name, c.state, c.state, None, runs=(sent(c.entry.name, 1),)) for c in claims
        ]
        before = command_calls(admin)
        trips.reset()
        store.ack(lease, acks)
        after = command_calls(admin)
    assert trips.count == 1
    assert sum(after.values()) - sum(before.values()) - 1 == 11 + 2 * 10  # RPUSH, LTRIM each
    assert [r.occurrence for r in store.history("k10-0000")] == [
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=62),
    ]


def test_ack_of_an_entry_changed_in_flight_costs_two_more_round_trips(counted: Any) -> None:
    store, trips, clock = counted
    for name in ("same", "changed"):
        store.save(every(name, 60))
    clock.advance(60)
    lease = store.lock.acquire("counter", 30)
    assert lease is not None
    claims = store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
    store.save(every("changed", 60, args=(1,)))
    nxt = clock() + timedelta(seconds=60)
    acks = [
        Ack(c.entry.name, c.state, c.state.evolve(next_run_at=nxt, total_run_count=1), nxt)
        for c in claims
    ]
    trips.reset()
    store.ack(lease, acks)
    assert trips.count == 3  # ack script, read of the changed one, its compare-and-set write
    assert store.state("changed").total_run_count == 1
    assert store.get("changed").args == (1,)
    assert store.state("same").total_run_count == 1


@pytest.mark.parametrize("n", [5, 300])
def test_static_sync_of_n_entries_is_a_constant_number_of_round_trips(n: int, counted: Any) -> None:
    store, trips, _ = counted
    store.check()  # the startup checks run once, at the first sync; counted apart
    store.save(every("dynamic", 60))
    store.sync_static([every(f"old-{i}", 60, static=True) for i in range(n)])
    trips.reset()
    report = store.sync_static(
        [every(f"old-{i}", 30, static=True) for i in range(n // 2)]
        + [every(f"new-{i}", 60, static=True) for i in range(n)]
    )
    assert trips.count == 3  # digest and static set, the records, one pipeline of writes
    assert len(report.added) == n and len(report.updated) == n // 2
    assert len(report.removed) == n - n // 2
    trips.reset()
    assert store.sync_static([every("new-0", 60, static=True)], keep=["old-0"]).removed
    assert trips.count == 3


def test_script_flush_reloads_by_noscript(counted: Any, redis_server: Any) -> None:
    store, trips, clock = counted
    store.save(every("a", 60))
    lease = store.lock.acquire("counter", 30)
    assert lease is not None
    admin = redis_server.client()
    admin.script_flush()
    admin.close()
    clock.advance(60)
    trips.reset()
    result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    assert [c.entry.name for c in result.claims] == ["a"]
    # EVALSHA answered NOSCRIPT, SCRIPT LOAD, EVALSHA again
    assert trips.count == 3
    trips.reset()
    store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    assert trips.count == 1


def saved(store: RedisStore, trips: RoundTrips, admin: Any, action: Any) -> tuple[int, int]:
    """Run ``action``; return its round trips and the server commands it ran."""
    before = command_calls(admin)
    trips.reset()
    action()
    count = trips.count
    after = command_calls(admin)
    return count, sum(after.values()) - sum(before.values()) - 1  # INFO itself left out


def test_one_save_is_one_round_trip(counted: Any, redis_server: Any) -> None:
    """A save of a new entry, of a changed one (however it was last seen), of an unchanged
    one is one script call; only a timing change of an entry the store never saw takes a
    second. Its server commands (for the docs), a new entry: EVALSHA, HMGET defs and states,
    HSET defs and states, HDEL corrupt, HMGET in-flight, ZADD due, SREM static, HSETNX schema;
    a change that keeps the timing: EVALSHA, HMGET defs, states and corrupt, HSET defs, SREM
    static, HSETNX schema."""
    store, trips, _ = counted
    store.save(every("warm", 60))  # loads the write script, sets the schema mark
    with redis_server.client() as admin:
        new = saved(store, trips, admin, lambda: store.save(every("a", 60)))
        again = saved(store, trips, admin, lambda: store.save(every("a", 60, args=(1,))))
        edited = saved(store, trips, admin, lambda: store.save(store.get("warm").evolve(args=(2,))))
        other = open_store(
            redis_server.url, {"client": store.client, "key_prefix": store.keys.prefix}
        )
        blind = saved(store, trips, admin, lambda: other.save(every("a", 60, args=(3,))))
        unchanged = saved(store, trips, admin, lambda: store.save(every("a", 60, args=(3,))))
        third = open_store(
            redis_server.url, {"client": store.client, "key_prefix": store.keys.prefix}
        )
        retimed = saved(store, trips, admin, lambda: third.save(every("a", 30, args=(3,))))
    assert new == (1, 10)
    assert again == (1, 10)
    assert edited == (2, 12)  # the get (HGET definition and state), then the save
    # a store that never saw it: the script finds the same timing, keeps the state
    assert blind == (1, 7)
    # seen with other bytes: the reply brings the stored ones, equal to the entry: no write
    assert unchanged == (1, 3)
    # a timing change of an entry never seen: the first call replies with the records
    assert retimed == (2, 14)
    assert store.get("a").args == (3,) and store.get("warm").args == (2,)
    assert store.get("a").schedule == every("a", 30).schedule


@pytest.mark.parametrize("n", [10, 2500])
def test_save_many_is_one_round_trip(n: int, counted: Any) -> None:
    """New entries and changes that keep the timing: one pipeline of write calls, nothing
    read first; timing changes: the calls reply with the records, one more pipeline."""
    store, trips, _ = counted
    store.save(every("warm", 60))
    trips.reset()
    report = store.save_many([every(f"m-{i:05d}", 60) for i in range(n)])
    assert trips.count == 1
    assert len(report.states) == n and not report.refused
    trips.reset()
    changed = store.save_many([every(f"m-{i:05d}", 60, args=(i,)) for i in range(n)])
    assert trips.count == 1 and len(changed.states) == n
    assert store.get(f"m-{n - 1:05d}").args == (n - 1,)
    assert changed.states == report.states  # the states were kept
    trips.reset()
    retimed = store.save_many([every(f"m-{i:05d}", 30, args=(i,)) for i in range(n)])
    assert trips.count == 2 and len(retimed.states) == n
    assert store.get("m-00000").schedule == every("x", 30).schedule


def test_a_save_equal_to_an_older_records_bytes_keeps_its_state(
    counted: Any, redis_server: Any
) -> None:
    """Records of an older release (here: every field, other key order and spacing) still
    read, and a save of the same definition keeps the state, in one round trip, whether the
    store never saw the entry, remembered other bytes, or read them; the definition is left
    in today's compact form (the script cannot tell equal JSON from equal definitions)."""
    store, trips, _ = counted
    entry = every("old", 60)
    state = store.save(entry)
    state_raw = store.client.hget(store.keys.states, "old")
    fields = serializer.entry_to_dict(entry)
    older = json.dumps(dict(reversed(list(fields.items()))), indent=1).encode()
    fresh = open_store(redis_server.url, {"client": store.client, "key_prefix": store.keys.prefix})
    for saver, read_first in ((fresh, False), (store, False), (store, True)):
        store.client.hset(store.keys.defs, "old", older)
        if read_first:
            store.get("old")
        trips.reset()
        assert saver.save(entry) == state
        assert trips.count == 1
        assert store.client.hget(store.keys.defs, "old") == serializer.dumps_entry(entry).encode()
        assert store.client.hget(store.keys.states, "old") == state_raw
    assert store.get("old") == entry


def test_the_records_a_store_remembers_are_bounded() -> None:
    seen = saving.SeenRecords()
    for i in range(saving.SEEN_LIMIT + 10):
        seen.remember(f"n{i}", b"d", b"s")
    assert seen.get("n0") is None and seen.get("n9") is None
    assert seen.get("n10") == (b"d", b"s")
    seen.remember("n10", b"d2", b"s2")  # remembered again: the newest
    seen.remember("extra", b"d", b"s")
    assert seen.get("n10") == (b"d2", b"s2") and seen.get("n11") is None
    seen.forget("extra")
    assert seen.get("extra") is None


@pytest.mark.parametrize("n", [5, 50])
def test_status_past_the_decode_limit_reads_no_record(
    n: int, counted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past STATUS_DECODE_LIMIT entries the status is three round trips whatever N (counts
    and next due, the lock, the in-flight claims) and counts the records beat noted
    unreadable."""
    from beatcore_redis import store as store_module

    monkeypatch.setattr(store_module, "STATUS_DECODE_LIMIT", 2)
    store, trips, _ = counted
    store.save_many([every(f"s-{i:03d}", 60) for i in range(n)])
    store.client.hset(store.keys.corrupt, "s-000", '{"cause": "bad", "since": 0}')
    trips.reset()
    status = store.status()
    assert trips.count == 3
    assert status.entry_count == n and status.corrupt_count == 1


@pytest.mark.parametrize("n", [5, 500])
def test_a_page_is_two_round_trips_and_decodes_only_its_records(
    n: int, counted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """entries_page: the names, then the page's records, whatever N; only the page's records
    are decoded (the web dashboard pages through large schedules)."""
    from beatcore import storekit
    from beatcore_redis import listing

    store, trips, _ = counted
    store.save_many([every(f"p-{i:03d}", 60) for i in range(n)])
    decoded: list[str] = []
    decode = storekit.decode_record

    def counting_decode(name: str, entry_raw: Any, state_raw: Any) -> Any:
        decoded.append(name)
        return decode(name, entry_raw, state_raw)

    store.entries_page(None, 1)  # loads the names script into a fresh server's cache
    monkeypatch.setattr(listing.storekit, "decode_record", counting_decode)
    trips.reset()
    page = store.entries_page("p-001", 3, descending=False)
    assert trips.count == 2
    assert [item[0].name for item in page if isinstance(item, tuple)] == ["p-002", "p-003", "p-004"]
    assert decoded == ["p-002", "p-003", "p-004"]


def test_last_runs_is_one_round_trip_with_the_workers_report(
    counted: Any, redis_server: Any
) -> None:
    """last_runs (``list``'s last-outcome column): one script call for the names, each
    newest record with its worker's report applied; an entry without runs is left out. (The
    first call on a server also loads the script: NOSCRIPT, SCRIPT LOAD, the call again.)"""
    from beatcore import timing
    from beatcore.store import RunOutcome

    store, trips, clock = counted
    dispatch(store, 3, clock, trips, redis_server.client(), runs=1)
    occurrence = T0 + timedelta(seconds=60)
    name = "k3-0000"
    store.record_outcome(
        RunOutcome(
            name, occurrence, timing.task_id(name, occurrence), "succeeded", clock(), runtime=1.5
        )
    )
    store.save(every("never-ran", 3600))
    assert store.last_runs(["missing"]) == {}
    trips.reset()
    last = store.last_runs(["k3-0000", "k3-0001", "never-ran", "missing"])
    assert trips.count == 1
    assert set(last) == {"k3-0000", "k3-0001"}
    assert last[name].status == "succeeded" and last[name].runtime == 1.5
    assert last["k3-0001"].outcome == "sent" and last["k3-0001"].status is None
