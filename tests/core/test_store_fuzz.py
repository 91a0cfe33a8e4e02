"""The fuzz suite (beatcore.testing.fuzz) on the memory and SQLite stores."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from beatcore.store import Store
from beatcore.stores.memory import MemoryStore
from beatcore.stores.sqlite import SqliteStore
from beatcore.testing import (
    FakeClock,
    forget_memory_schedule,
    plant_memory_record,
    plant_sqlite_record,
)
from beatcore.testing.fuzz import OpenFuzzStore, PlantRaw, StoreFuzz


class TestMemoryStoreFuzz(StoreFuzz):
    @pytest.fixture
    def open_fuzz_store(self, clock: FakeClock) -> Iterator[OpenFuzzStore]:
        opened: list[str] = []

        def open_store() -> Store:
            opened.append(f"fuzz-{uuid.uuid4()}")
            return MemoryStore(opened[-1], clock=clock)

        yield open_store
        for name in opened:
            forget_memory_schedule(name)

    @pytest.fixture
    def plant_raw_record(self) -> PlantRaw:
        def plant(store: Store, name: str, entry: bytes, state: bytes, due: datetime) -> None:
            assert isinstance(store, MemoryStore)
            plant_memory_record(store, name, entry, state, due)  # type: ignore[arg-type]

        return plant


class TestSqliteStoreFuzz(StoreFuzz):
    @pytest.fixture
    def open_fuzz_store(self, clock: FakeClock, tmp_path: Path) -> OpenFuzzStore:
        count = itertools.count()
        return lambda: SqliteStore(tmp_path / f"fuzz-{next(count)}.sqlite3", clock=clock)

    @pytest.fixture
    def plant_raw_record(self) -> PlantRaw:
        def plant(store: Store, name: str, entry: bytes, state: bytes, due: datetime) -> None:
            assert isinstance(store, SqliteStore)
            plant_sqlite_record(store, name, entry, state, due)

        return plant
