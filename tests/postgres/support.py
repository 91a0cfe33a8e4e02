"""Helpers of the PostgreSQL store tests: a schema per test, raw rows, round-trip counting."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq

from beatcore_postgres.store import PostgresStore


def new_schema() -> str:
    """A schema name no other test uses."""
    return f"t_{uuid.uuid4().hex[:12]}"


def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def plant_row(
    store: PostgresStore, url: str, name: str, entry_raw: str, state_raw: str, due_at: datetime
) -> None:
    """Write a raw row as it is (tests plant unreadable records with it)."""
    store.entries()  # the first call creates the tables
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{store.spec.schema}".entries (name, entry_json, state_json, due_at)'
            " VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET entry_json ="
            " excluded.entry_json, state_json = excluded.state_json, due_at = excluded.due_at",
            (name, entry_raw, state_raw, due_at),
        )


class RoundTrips:
    """Counts the round trips a store makes: libpq's protocol trace of every connection the
    store borrows, one ``ReadyForQuery`` from the server per exchange (a statement, or a
    pipeline's sync)."""

    def __init__(self) -> None:
        self.count = 0

    def reset(self) -> None:
        """Start counting from zero."""
        self.count = 0


@contextmanager
def counting_round_trips(store: PostgresStore) -> Iterator[RoundTrips]:
    """Count the round trips ``store`` makes inside the block (see :class:`RoundTrips`)."""
    trips = RoundTrips()
    pool = store._db._pool
    borrow = pool.connection

    @contextmanager
    def traced(timeout: float | None = None) -> Iterator[Any]:
        with borrow(timeout) as conn, tempfile.TemporaryFile() as trace:
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                yield conn
            finally:
                conn.pgconn.untrace()
                trace.seek(0)
                trips.count += sum(
                    1
                    for line in trace.read().decode(errors="replace").splitlines()
                    if line.startswith("B\t") and "\tReadyForQuery" in line
                )

    pool.connection = traced  # type: ignore[method-assign]
    try:
        yield trips
    finally:
        del pool.connection
