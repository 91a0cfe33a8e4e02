"""Saves of entries this store never saw (no read first): the write script decides, and the
save checks its decision; every outcome is the one :func:`beatcore.storekit.decide_save`
gives over the records stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from beatcore import serializer, storekit, timing
from beatcore.entry import Entry
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore.testing.contract.batches import NoNextRun
from beatcore_redis.store import RedisStore, open_store
from tests.support.redis_stores import delete_store_keys, fake_or_real


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=["fakeredis", "real"])
def stores(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[tuple[RedisStore, Any]]:
    """A store, and a way to open another one on the same keys (which has seen nothing)."""
    url, options = fake_or_real(request, "blind", {"clock": clock})
    first = open_store(url, options)
    yield first, lambda: open_store(url, {**options, "client": first.client})
    delete_store_keys(first)
    first.close()


def test_a_change_that_keeps_the_timing_keeps_the_state(stores: Any, clock: FakeClock) -> None:
    store, other = stores
    before = store.save(every("a", 60))
    clock.advance(30)  # a new entry would now get another first run
    after = other().save(every("a", 60, args=(1,), options={"queue": "q"}, catch_up="all"))
    assert after == before == store.state("a")
    assert store.get("a").args == (1,) and store.get("a").catch_up == "all"


@pytest.mark.parametrize(
    "change",
    [
        {"schedule_seconds": 30},
        {"enabled": True},  # re-enabled: rescheduled from now
        {"jitter": 5.0},
        {"tz": "Europe/Paris"},
        {"max_runs": 3},
    ],
    ids=["schedule", "enabled", "jitter", "tz", "max_runs"],
)
def test_a_timing_change_is_decided_from_the_stored_records(
    stores: Any, clock: FakeClock, change: dict[str, Any]
) -> None:
    store, other = stores
    store.save(every("a", 60, enabled="enabled" not in change))
    clock.advance(30)
    seconds = change.pop("schedule_seconds", 60)
    entry = every("a", seconds, **change)
    expected = store.save(entry)  # what a store that read the records decides
    store.save(every("a", 60, enabled="enabled" not in change))
    assert other().save(entry) == expected
    assert store.state("a") == expected and store.get("a") == entry


def test_a_record_noted_unreadable_is_replaced_as_new(stores: Any, clock: FakeClock) -> None:
    store, other = stores
    store.save(every("a", 60))
    store.client.hset(store.keys.states, "a", b"garbage")
    store.client.hset(store.keys.corrupt, "a", json.dumps({"cause": "x", "since": 0}))
    clock.advance(30)
    state = other().save(every("a", 60))
    assert state == timing.state_after_save(None, None, every("a", 60), clock(), None)
    assert not store.client.hexists(store.keys.corrupt, "a")
    assert store.state("a") == state


def test_an_unreadable_state_the_script_kept_is_written_again(
    stores: Any, clock: FakeClock
) -> None:
    """The script sees the same timing and keeps the state; the save finds it unreadable
    and writes the state of a new entry over it."""
    store, other = stores
    store.save(every("a", 60))
    store.client.hset(store.keys.states, "a", b'{"v":1,"total_run_count":"many"}')
    clock.advance(30)
    state = other().save(every("a", 60, args=(1,)))
    assert store.state("a") == state and state.total_run_count == 0
    assert store.get("a").args == (1,)


def test_a_definition_the_script_cannot_compare_is_decided_by_the_save(
    stores: Any, clock: FakeClock
) -> None:
    """A stored definition the script's JSON compare cannot read is answered with its
    records; one the script calls the same timing but the serializer cannot read (an unknown
    field value) is corrected by the save."""
    store, other = stores
    store.save(every("a", 60))
    store.client.hset(store.keys.defs, "a", b"not json")
    clock.advance(30)
    state = other().save(every("a", 60))
    assert store.state("a") == state and state.next_run_at is not None
    assert store.get("a") == every("a", 60)
    good = json.loads(serializer.dumps_entry(every("b", 60)))
    store.save(every("b", 60))
    store.client.hset(store.keys.defs, "b", json.dumps({**good, "catch_up": "sometimes"}))
    state = other().save(every("b", 60))
    assert store.get("b") == every("b", 60) and store.state("b") == state


def test_save_many_of_blind_changes_names_the_bad_entry_and_saves_the_rest(
    stores: Any, clock: FakeClock
) -> None:
    store, other = stores
    store.save_many([every(f"e{i}", 60) for i in range(5)])
    clock.advance(30)
    past = every("e2", 60).evolve(schedule=NoNextRun(60))  # e2 is stored: a change of it
    report = other().save_many(
        [every("e0", 60, args=(1,)), every("e1", 30), past, every("e3", 60), every("new", 60)]
    )
    assert set(report.states) == {"e0", "e1", "e3", "new"} and set(report.refused) == {"e2"}
    for name, state in report.states.items():
        assert store.state(name) == state
    assert store.get("e0").args == (1,) and store.get("e1") == every("e1", 30)


def test_a_batch_of_new_entries_is_stored_as_saves_one_by_one_store_them(
    stores: Any, clock: FakeClock
) -> None:
    """Entries of one template (and of others: jitter, a start, another task) in a batch
    with a bad entry in the middle: the others get the records and states one save each
    would give them, the bad one is named and nothing of it is written."""
    store, other = stores
    batch = [
        *(every(f"a{i}", 60) for i in range(3)),
        *(every(f"j{i}", 60, jitter=30.0) for i in range(3)),
        every("bad", 60).evolve(schedule=NoNextRun(60)),
        *(every(f"s{i}", 60, start_at=T0 + timedelta(hours=2)) for i in range(2)),
        *(every(f"a{i}", 60, args=(1,)) for i in range(3, 5)),
        *(every(f"u{i}", 60, args=(i,), kwargs={"customer": f"c{i}"}) for i in range(3)),
        "not an entry",
    ]
    report = store.save_many(batch)  # type: ignore[arg-type]
    assert set(report.refused) == {"bad", "item 14"} and "u2" in report.states
    single = other()
    for entry in batch:
        if not isinstance(entry, Entry) or entry.name == "bad":
            continue
        state = report.states[entry.name]
        assert state == timing.state_after_save(None, None, entry, clock(), None)
        definition = store.client.hget(store.keys.defs, entry.name)
        stored_state = store.client.hget(store.keys.states, entry.name)
        assert definition == serializer.dumps_entry(entry).encode()
        assert stored_state == serializer.dumps_state(state).encode()
        due = store.client.zscore(store.keys.due, entry.name)
        assert due == storekit.to_micros(timing.state_due_at(entry, state))
        assert single.save(entry) == state  # equal: nothing to write
    assert store.client.hget(store.keys.defs, "bad") is None


def test_a_batch_works_out_one_first_state_per_shape(
    stores: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of new entries that differ in their arguments (one per customer) and of
    entries with none: the first state, which depends on the timing fields and the instant
    only, is worked out once for each set of timing fields, not once per entry."""
    store, _ = stores
    calls: list[str] = []
    original = timing.state_after_save

    def counted(old: Any, state: Any, new: Entry, now: Any, default_tz: Any) -> Any:
        calls.append(new.name)
        return original(old, state, new, now, default_tz)

    monkeypatch.setattr(timing, "state_after_save", counted)
    batch = [
        *(every(f"args-{i}", 3600, args=(i,)) for i in range(100)),
        *(every(f"kwargs-{i}", 3600, kwargs={"customer": i}) for i in range(100)),
        *(every(f"plain-{i}", 3600) for i in range(100)),
        *(every(f"daily-{i}", 86400, args=(i,)) for i in range(100)),
    ]
    report = store.save_many(batch)
    assert not report.refused and len(report.states) == 400
    assert calls == ["args-0", "plain-0", "daily-0"]
    for entry in batch:
        assert report.states[entry.name] == original(None, None, entry, clock(), None)
        definition = store.client.hget(store.keys.defs, entry.name)
        assert definition == serializer.dumps_entry(entry).encode()
