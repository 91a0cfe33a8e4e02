"""The store contract on the PostgreSQL store, on a real server (a schema per test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from beatcore.testing import FakeClock, StoreContract
from beatcore.testing.contract import OpenStore, PlantCorrupt
from beatcore_postgres.plugin import open_store
from beatcore_postgres.store import PostgresStore
from tests.postgres.support import drop_schema, new_schema, plant_row
from tests.support.postgres_server import PostgresServer


class TestPostgresStore(StoreContract):
    #: the lease expires on the server's clock, not on the injected one
    lock_expiry_follows_clock = False
    #: not implemented yet by the PostgreSQL store (Store defaults)

    @pytest.fixture
    def store(self, clock: FakeClock, postgres_server: PostgresServer) -> Iterator[PostgresStore]:
        schema = new_schema()
        store = open_store(postgres_server.url, {"clock": clock, "schema": schema})
        yield store
        store.close()
        drop_schema(postgres_server.url, schema)

    @pytest.fixture
    def open_second_store(
        self, store: PostgresStore, clock: FakeClock, postgres_server: PostgresServer
    ) -> OpenStore:
        return lambda: open_store(
            postgres_server.url, {"clock": clock, "schema": store.spec.schema}
        )

    @pytest.fixture
    def plant_corrupt_record(
        self, store: PostgresStore, postgres_server: PostgresServer
    ) -> PlantCorrupt:
        def plant(name: str, due_at: datetime) -> None:
            plant_row(store, postgres_server.url, name, "{not json", '{"v": 1}', due_at)

        return plant
