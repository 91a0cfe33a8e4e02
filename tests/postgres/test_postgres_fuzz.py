"""The fuzz suite (beatcore.testing.fuzz) on the PostgreSQL store, on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from beatcore.store import Store
from beatcore.testing import FakeClock
from beatcore.testing.fuzz import OpenFuzzStore, PlantRaw, StoreFuzz
from beatcore_postgres.plugin import open_store
from beatcore_postgres.store import PostgresStore
from tests.postgres.support import drop_schema, new_schema, plant_row
from tests.support.postgres_server import PostgresServer


class TestPostgresStoreFuzz(StoreFuzz):
    #: PostgreSQL's text holds neither U+0000 nor bytes that are not UTF-8
    holds_nul = False

    @pytest.fixture
    def open_fuzz_store(
        self, clock: FakeClock, postgres_server: PostgresServer
    ) -> Iterator[OpenFuzzStore]:
        schemas: list[str] = []

        def open_fresh() -> Store:
            schemas.append(new_schema())
            return open_store(postgres_server.url, {"clock": clock, "schema": schemas[-1]})

        yield open_fresh
        for schema in schemas:
            drop_schema(postgres_server.url, schema)

    @pytest.fixture
    def plant_raw_record(self, postgres_server: PostgresServer) -> PlantRaw:
        def plant(store: Store, name: str, entry: bytes, state: bytes, due: datetime) -> None:
            assert isinstance(store, PostgresStore)
            plant_row(store, postgres_server.url, name, entry.decode(), state.decode(), due)

        return plant
