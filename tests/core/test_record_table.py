"""The store kit's record table over mappings that keep copies, as a key-value database does."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator, MutableMapping
from datetime import datetime
from typing import Any

import pytest

from beatcore.record_table import RecordTable
from beatcore.stores.memory import MemoryStore
from beatcore.testing import FakeClock, StoreContract, forget_memory_schedule, plant_memory_record
from beatcore.testing.contract import PlantCorrupt


class _Copying(MutableMapping[str, Any]):
    """A mapping that keeps pickled copies: a change made to a value after it was set is lost,
    as it would be in a key-value database."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> Any:
        return pickle.loads(self._data[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = pickle.dumps(value)

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


class _KeyValueStore(MemoryStore):
    """The memory store with its table kept in :class:`_Copying` mappings."""

    def __init__(self, name: str, *, clock: FakeClock) -> None:
        super().__init__(name, clock=clock)
        self._data.table = RecordTable(*(_Copying() for _ in range(7)))


class TestRecordTableOverCopies(StoreContract):
    """The whole contract holds on a table whose mappings only see assignments and pops."""

    @pytest.fixture
    def store(self, clock: FakeClock) -> Iterator[MemoryStore]:
        name = f"table-{uuid.uuid4()}"
        yield _KeyValueStore(name, clock=clock)
        forget_memory_schedule(name)

    @pytest.fixture
    def plant_corrupt_record(self, store: MemoryStore) -> PlantCorrupt:
        def plant(name: str, due_at: datetime) -> None:
            plant_memory_record(store, name, "{not json", '{"v": 1}', due_at)

        return plant
