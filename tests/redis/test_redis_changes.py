"""The Redis change log's layout: a hash of per-name logs written by one script call per
1,000 names (round trips and server commands do not grow with the batch), and the lists of an
earlier release read and migrated by themselves."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from beatcore.errors import StoreError
from beatcore.store import Change
from beatcore.testing.contract import T0
from beatcore_redis import changes as changelog
from beatcore_redis.store import RedisStore
from tests.redis.counting import RoundTrips, command_calls, counted_store


@pytest.fixture
def counted(redis_server: Any) -> Iterator[tuple[RedisStore, RoundTrips]]:
    """A store whose client counts its round trips (``store.admin``: another client)."""
    yield from counted_store(redis_server, "changes")


def change(name: str, seconds: float, action: str = "add", **fields: Any) -> Change:
    return Change(name, action, T0 + timedelta(seconds=seconds), by="beat@host", **fields)


def commands_of(admin: Any, run: Any) -> int:
    """Return the server commands ``run()`` made (INFO commandstats of another client)."""
    before = command_calls(admin)
    run()
    after = command_calls(admin)
    return sum(v - before.get(k, 0) for k, v in after.items() if k != "info")


def test_a_batch_is_one_round_trip_and_commands_per_thousand_names(
    counted: tuple[RedisStore, RoundTrips], redis_server: Any
) -> None:
    """Beat's first static sync logs an add per entry: 2,500 names are one round trip and a
    few server commands per 1,000 names (they were two per name), and each reads back."""
    store, trips = counted
    admin = redis_server.client()
    store.record_changes([change("warm-up", 0)])
    small = [change(f"small-{i:04d}", 1) for i in range(10)]
    large = [change(f"large-{i:04d}", 2, via="beat_schedule") for i in range(2_500)]
    trips.reset()
    small_commands = commands_of(admin, lambda: store.record_changes(small))
    assert trips.count == 1
    trips.reset()
    large_commands = commands_of(admin, lambda: store.record_changes(large))
    assert trips.count == 1
    assert small_commands == 6  # EVALSHA, HGET meta, LPUSH, LTRIM, HMGET, HSET
    assert large_commands == small_commands + 2 * 4  # two more chunks: EVALSHA, HGET, HMGET, HSET
    assert store.changes("large-1234") == [large[1234]]
    assert store.changes("small-0003") == [small[3]]
    assert [c.name for c in store.changes(limit=2)] == ["large-2499", "large-2498"]
    assert len(store.changes()) == store.change_log_size
    admin.close()


def test_a_name_keeps_its_newest_records_in_one_hash_field(
    counted: tuple[RedisStore, RoundTrips],
) -> None:
    """Each name is one field of ``{tag}:changes`` (newest first, a record a line), bounded
    by change_log_size also within one batch; no key per name."""
    store, _ = counted
    store.change_log_size = 3
    store.record_changes([change("a", s, "trigger") for s in range(5)])
    store.record_changes([change("a", 5, "disable", reason="line\nbreak"), change("b", 6)])
    assert [c.at for c in store.changes("a")] == [T0 + timedelta(seconds=s) for s in (5, 4, 3)]
    assert store.changes("a")[0].reason == "line\nbreak"
    stored = store.client.hget(changelog.names_key(store.handle), "a")
    assert stored.count(b"\n") == 2
    assert store.client.keys(changelog.list_prefix(store.handle).replace(b"{", b"[{]") + b"*") == []
    assert store.client.hget(store.keys.meta, "change_lists") == b"0"


def plant_earlier_release(store: RedisStore, changes: list[Change]) -> None:
    """Write ``changes`` as the release before this layout did: a list per name (LPUSH, newest
    first) and the schedule-wide list."""
    for item in changes:
        store.client.lpush(changelog.list_prefix(store.handle) + item.name.encode(), item.to_json())
        store.client.lpush(changelog.schedule_key(store.handle), item.to_json())


def test_an_earlier_releases_lists_read_and_migrate_by_themselves(
    counted: tuple[RedisStore, RoundTrips],
) -> None:
    """Per-name lists of the earlier layout read as they are; the first write moves every
    one into the hash (also names it does not write), keeps the bound, deletes the lists and
    marks the schedule, after which a write no longer looks for them."""
    store, trips = counted
    store.change_log_size = 3
    old = [change("a", 0), change("a", 1, "trigger"), change("b", 2), change("c", 3)]
    plant_earlier_release(store, old)
    assert store.changes("a") == [old[1], old[0]]
    assert store.changes("c") == [old[3]]
    assert [c.name for c in store.changes()] == ["c", "b", "a", "a"]
    store.record_changes([change("a", 10, "update"), change("a", 11, "disable")])
    assert [c.at.second for c in store.changes("a")] == [11, 10, 1]
    assert store.changes("b") == [old[2]]
    assert store.changes("c") == [old[3]]
    assert store.client.keys(changelog.list_prefix(store.handle).replace(b"{", b"[{]") + b"*") == []
    assert store.client.hget(store.keys.meta, "change_lists") == b"0"
    trips.reset()
    store.record_changes([change("d", 12)])
    assert trips.count == 1
    assert [c.name for c in store.changes()] == ["d", "a", "a"]


def test_a_flushed_script_cache_loads_the_script_again(
    counted: tuple[RedisStore, RoundTrips],
) -> None:
    """After SCRIPT FLUSH (a restart, a failover) the calls the server refused are sent
    again once the script is loaded; none is lost or written twice."""
    store, _ = counted
    store.record_changes([change("a", 0)])
    store.client.script_flush()
    store.record_changes([change(f"n-{i:04d}", 1) for i in range(1_500)] + [change("a", 2)])
    assert [c.at.second for c in store.changes("a")] == [2, 0]
    assert len(store.changes("n-1499")) == 1


def test_an_earlier_release_writing_after_the_migration_reads_in_order(
    counted: tuple[RedisStore, RoundTrips],
) -> None:
    """During an upgrade a beat of the earlier release may still write its per-name list
    after this one migrated: a name's changes still read newest first across both."""
    store, _ = counted
    store.record_changes([change("a", 1, "trigger"), change("a", 2, "update")])
    assert store.client.hget(store.keys.meta, "change_lists") == b"0"
    plant_earlier_release(store, [change("a", 3, "disable")])
    assert [c.at.second for c in store.changes("a")] == [3, 2, 1]
    assert [c.action for c in store.changes("a", limit=1)] == ["disable"]


def test_a_failed_migration_leaves_the_written_changes_and_is_tried_again(
    counted: tuple[RedisStore, RoundTrips],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lists' move fails after the changes were written (an outage): the write does not
    fail (its changes are there), a warning says so, and the next write moves them."""
    store, _ = counted
    plant_earlier_release(store, [change("old", 0)])
    real = changelog.migrate_lists

    def failing(handle: Any, size: int) -> None:
        raise StoreError("Redis went away")

    monkeypatch.setattr(changelog, "migrate_lists", failing)
    with caplog.at_level(logging.WARNING, logger="beatcore.redis"):
        store.record_changes([change("a", 1)])
    assert store.changes("a") == [change("a", 1)]
    assert any("next change log write tries again" in r.getMessage() for r in caplog.records)
    assert store.client.hget(store.keys.meta, "change_lists") != b"0"
    monkeypatch.setattr(changelog, "migrate_lists", real)
    store.record_changes([change("b", 2)])
    assert store.client.hget(store.keys.meta, "change_lists") == b"0"
    assert store.changes("old") == [change("old", 0)]
