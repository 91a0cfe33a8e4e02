"""The store contract on the reference memory store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from beatcore.stores.memory import MemoryStore
from beatcore.testing import FakeClock, StoreContract, forget_memory_schedule, plant_memory_record
from beatcore.testing.contract import PlantCorrupt


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


def test_same_url_shares_data_in_one_process() -> None:
    from beatcore import Entry, Interval, connect

    url = f"memory://shared-{uuid.uuid4()}"
    first = connect(url)
    second = connect(url)
    first.save(Entry(name="a", task="t", schedule=Interval(10)))
    assert [e.name for e in second.entries()] == ["a"]
    assert [e.name for e in connect(f"memory://other-{uuid.uuid4()}").entries()] == []
