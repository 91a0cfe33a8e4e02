"""The store contract on the reference memory store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import Any

import pytest

from beatcore.stores.memory import MemoryStore
from beatcore.stores.memory_data import ScheduleData
from beatcore.testing import FakeClock, StoreContract, forget_memory_schedule, plant_memory_record
from beatcore.testing.contract import OpenStore, PlantCorrupt
from beatcore.testing.contract.claims import ClaimAckContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self, clock: FakeClock) -> Iterator[MemoryStore]:
        name = f"contract-{uuid.uuid4()}"
        yield MemoryStore(name, clock=clock)
        forget_memory_schedule(name)

    @pytest.fixture
    def plant_corrupt_record(self, store: MemoryStore) -> PlantCorrupt:
        def plant(name: str, due_at: datetime) -> None:
            plant_memory_record(store, name, "{not json", '{"v": 1}', due_at)

        return plant

    @pytest.fixture
    def open_second_store(self, store: MemoryStore, clock: FakeClock) -> OpenStore:
        return lambda: MemoryStore(store.name, clock=clock)


def test_same_url_shares_data_in_one_process() -> None:
    from beatcore import Entry, Interval, connect

    url = f"memory://shared-{uuid.uuid4()}"
    first = connect(url)
    second = connect(url)
    first.save(Entry(name="a", task="t", schedule=Interval(10)))
    assert [e.name for e in second.entries()] == ["a"]
    assert [e.name for e in connect(f"memory://other-{uuid.uuid4()}").entries()] == []


class _NoLock:
    """A mutex that excludes nothing."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None


class _UnlockedMemoryStore(MemoryStore):
    """The memory store with its mutex taken out: a dict-backed store with no lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._data = ScheduleData(mutex=_NoLock())  # type: ignore[arg-type]
        self._lock._data = self._data


def test_concurrency_case_fails_a_store_without_locking(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract's concurrency case fails a dict-backed store with no lock (before the
    suite switched threads every microsecond, such a store passed it). A race is caught
    only when it happens: with the claims as fast as they are now, the contract's 3 rounds
    missed it now and then, so this check gives it 30."""
    from beatcore.testing.contract import claims

    monkeypatch.setattr(claims, "CONCURRENT_ROUNDS", 30)
    clock = FakeClock()
    name = f"unlocked-{uuid.uuid4()}"
    case = ClaimAckContract()
    try:
        with pytest.raises(AssertionError, match=r"claimed more than once|raised by concurrent"):
            case.test_concurrent_claimers_never_claim_the_same_entry(
                _UnlockedMemoryStore(name, clock=clock), clock
            )
    finally:
        forget_memory_schedule(name)
