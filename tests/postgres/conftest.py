"""Fixtures of the PostgreSQL store tests: a store in a schema of its own on the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from beatcore.testing import FakeClock
from beatcore.testing.contract import T0
from beatcore_postgres.plugin import open_store
from beatcore_postgres.store import PostgresStore
from tests.postgres.support import drop_schema, new_schema
from tests.support.postgres_server import PostgresServer


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock, at the contract suite's start instant."""
    return FakeClock(T0)


@pytest.fixture
def pg_schema(postgres_server: PostgresServer) -> Iterator[str]:
    """A schema name of this test's own, dropped after it."""
    schema = new_schema()
    yield schema
    drop_schema(postgres_server.url, schema)


@pytest.fixture
def pg_store(
    postgres_server: PostgresServer, pg_schema: str, clock: FakeClock
) -> Iterator[PostgresStore]:
    """An empty store in ``pg_schema`` using ``clock``."""
    store = open_store(postgres_server.url, {"clock": clock, "schema": pg_schema})
    yield store
    store.close()
