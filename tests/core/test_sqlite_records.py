"""The SQLite store with records it never wrote itself: bad UTF-8, NUL in names, hostile JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from beatcore import serializer
from beatcore.entry import StoredName
from beatcore.errors import CorruptRecord
from beatcore.store import Ack, Lease
from beatcore.stores.sqlite import SqliteStore
from beatcore.testing import FakeClock, plant_sqlite_record
from beatcore.testing.contract import T0, every
from tests.core.test_storekit import GOOD_STATE, HOSTILE_STATES


@pytest.fixture
def store(fake_clock: FakeClock, tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "schedule.sqlite3", clock=fake_clock)
    yield store
    store.close()


def lead(store: SqliteStore) -> Lease:
    lease = store.lock.acquire("tests", 30)
    assert lease is not None
    return lease


def claim_names(store: SqliteStore, lease: Lease, now: object) -> tuple[list[str], list[str]]:
    result = store.claim_due(lease, now, limit=10, reclaim_after=30)  # type: ignore[arg-type]
    return [c.entry.name for c in result.claims], [e.name for e in result.corrupt]


def test_entry_name_with_nul_is_claimed_once_and_acked(
    store: SqliteStore, fake_clock: FakeClock
) -> None:
    """json_each cut names at the NUL: the claim never took it out of the due index."""
    name = StoredName("nul\x00name")  # a name from before the name rule (new ones are refused)
    store.save(every(name, 60))
    lease = lead(store)
    fake_clock.advance(60)
    (claim,) = store.claim_due(lease, fake_clock(), limit=10, reclaim_after=30).claims
    assert claim.entry.name == name
    assert store.claim_due(lease, fake_clock(), limit=10, reclaim_after=30).claims == ()
    assert [f.name for f in store.in_flight()] == [name]
    next_run = fake_clock() + timedelta(seconds=60)
    acked = claim.state.evolve(next_run_at=next_run, total_run_count=1)
    store.ack(lease, [Ack(name, claim.state, acked, next_run)])
    assert store.in_flight() == []
    assert store.state(name).total_run_count == 1
    store.sync_static([])
    store.sync_static([every(name, 60, static=True)])
    assert store.sync_static([]).removed == (name,)
    assert store.entries() == []


def test_text_that_is_not_utf8_is_an_unreadable_record(
    store: SqliteStore, fake_clock: FakeClock
) -> None:
    """Reading it raised sqlite3.OperationalError, failing every claim, list and status."""
    store.save(every("good", 60))
    plant_sqlite_record(store, "bad-def", b'{"v":1,"name":"bad\xff"}', GOOD_STATE, T0)
    good_def = serializer.dumps_entry(every("bad-state"))
    plant_sqlite_record(store, "bad-state", good_def, b'{"v":1,"last_error":"\xfe"}', T0)
    plant_sqlite_record(store, b"bad-name\xff", good_def, GOOD_STATE, T0)
    assert [e.name for e in store.entries()] == ["bad-state", "good"]  # its definition reads
    unreadable = ["bad-def", "bad-name\udcff", "bad-state"]
    assert sorted(e.name for e in store.corrupt_records()) == unreadable
    assert store.status().corrupt_count == 3
    lease = lead(store)
    fake_clock.advance(60)
    claimed, corrupt = claim_names(store, lease, fake_clock())
    assert claimed == ["good"]
    assert sorted(corrupt) == unreadable
    assert claim_names(store, lease, fake_clock()) == ([], [])
    with pytest.raises(CorruptRecord):
        store.get("bad-def")
    assert sorted(e.name for e in store.corrupt_records()) == unreadable


@pytest.mark.parametrize("state_raw", HOSTILE_STATES.values(), ids=HOSTILE_STATES.keys())
def test_claim_isolates_a_hostile_record_from_its_batch(
    store: SqliteStore, fake_clock: FakeClock, state_raw: str
) -> None:
    """The exception one record provoked rolled back the whole claim, on every tick."""
    for name in ("a", "c"):
        store.save(every(name, 60))
    plant_sqlite_record(store, "b", serializer.dumps_entry(every("b")), state_raw, T0)
    lease = lead(store)
    fake_clock.advance(60)
    assert claim_names(store, lease, fake_clock()) == (["a", "c"], ["b"])
    assert claim_names(store, lease, fake_clock()) == ([], [])
    assert [e.name for e in store.corrupt_records()] == ["b"]
