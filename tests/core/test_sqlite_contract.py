"""The store contract on the SQLite store (a fresh file per test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from beatcore.stores.sqlite import SqliteStore
from beatcore.testing import FakeClock, StoreContract, plant_sqlite_record
from beatcore.testing.contract import OpenStore, PlantCorrupt


class TestSqliteStore(StoreContract):
    lock_expiry_follows_clock = True

    @pytest.fixture
    def store(self, clock: FakeClock, tmp_path: Path) -> Iterator[SqliteStore]:
        store = SqliteStore(tmp_path / "schedule.sqlite3", clock=clock)
        yield store
        store.close()

    @pytest.fixture
    def plant_corrupt_record(self, store: SqliteStore) -> PlantCorrupt:
        def plant(name: str, due_at: datetime) -> None:
            plant_sqlite_record(store, name, "{not json", '{"v": 1}', due_at)

        return plant

    @pytest.fixture
    def open_second_store(self, store: SqliteStore, clock: FakeClock) -> OpenStore:
        return lambda: SqliteStore(store.path, clock=clock)
