"""Tables made and versioned by the store; a restart or an outage retried; permanent errors
said at once. On the real server."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from beatcore import serializer
from beatcore.entry import Entry, EntryState
from beatcore.errors import SchemaVersionError, StoreError, StoreUnavailable
from beatcore.schedules import Interval
from beatcore.store import Ack, Change, RunOutcome
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0
from beatcore.testing.contract.history import sent
from beatcore_postgres import schema as schema_module
from beatcore_postgres.plugin import open_store
from beatcore_postgres.store import PostgresStore
from tests.support.postgres_server import PostgresServer


def every(name: str, seconds: float = 60) -> Entry:
    return Entry(name=name, task="tests.add", schedule=Interval(seconds))


def version_of(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f'SELECT version FROM "{schema}".schema_version').fetchone()
    assert row is not None
    return int(row[0])


def test_first_call_creates_the_tables_at_the_current_version(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    store = open_store(postgres_server.url, {"schema": pg_schema})
    try:
        assert store.entries() == []
        assert version_of(postgres_server.url, pg_schema) == schema_module.SCHEMA_VERSION
    finally:
        store.close()


def test_processes_opening_together_create_the_schema_once(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    stores = [open_store(postgres_server.url, {"schema": pg_schema}) for _ in range(6)]
    errors: list[BaseException] = []

    def first_call(store: PostgresStore, i: int) -> None:
        try:
            store.save(every(f"e{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_call, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert [e.name for e in stores[0].entries()] == [f"e{i}" for i in range(6)]
    finally:
        for store in stores:
            store.close()


def test_a_newer_schema_is_refused_and_left_alone(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    store = open_store(postgres_server.url, {"schema": pg_schema})
    store.save(every("kept"))
    store.close()
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f'UPDATE "{pg_schema}".schema_version SET version = 99')
    newer = open_store(postgres_server.url, {"schema": pg_schema})
    try:
        with pytest.raises(
            SchemaVersionError,
            match=f"has version 99, newer than version {schema_module.SCHEMA_VERSION}",
        ):
            newer.entries()
    finally:
        newer.close()
    assert version_of(postgres_server.url, pg_schema) == 99
    with psycopg.connect(postgres_server.url) as conn:
        assert conn.execute(f'SELECT name FROM "{pg_schema}".entries').fetchall() == [("kept",)]


def test_a_schema_of_another_application_is_not_touched(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        conn.execute(f'CREATE TABLE "{pg_schema}".invoices (id int)')
    store = open_store(postgres_server.url, {"schema": pg_schema})
    try:
        with pytest.raises(StoreError, match=r"another application \(invoices\)"):
            store.entries()
    finally:
        store.close()


def test_a_schema_of_the_first_release_migrates_forward_keeping_its_entries(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    first = schema_module.MIGRATIONS[:1]
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        assert schema_module.ensure_schema(conn, pg_schema, "test", first) == 0
        conn.execute(
            f'INSERT INTO "{pg_schema}".entries (name, entry_json, state_json) VALUES (%s, %s, %s)',
            ("old", '{"v": 1, "name": "old"}', '{"v": 1}'),
        )
    assert version_of(postgres_server.url, pg_schema) == 1
    store = open_store(postgres_server.url, {"schema": pg_schema})
    try:
        assert [error.name for error in store.corrupt_records()] == ["old"]  # kept as it was
        assert version_of(postgres_server.url, pg_schema) == schema_module.SCHEMA_VERSION
        assert store.beat_info() is None  # the table of version 2 is there
    finally:
        store.close()


def test_a_schema_of_version_2_migrates_and_its_entries_start_an_empty_history(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    """Version 3 adds the run history: a schedule of version 2 (entries, a claim in flight)
    opens by itself, reads as it was, and its next acks keep history."""
    clock = FakeClock(T0)
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        assert (
            schema_module.ensure_schema(conn, pg_schema, "test", schema_module.MIGRATIONS[:2]) == 0
        )
    entry = every("kept", 60)
    state = EntryState(next_run_at=T0 + timedelta(seconds=60), total_run_count=7)
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{pg_schema}".entries (name, entry_json, state_json, next_run_at,'
            " due_at) VALUES (%s, %s, %s, %s, %s)",
            ("kept", serializer.dumps_entry(entry), serializer.dumps_state(state),
             state.next_run_at, state.next_run_at),
        )  # fmt: skip
    assert version_of(postgres_server.url, pg_schema) == 2
    store = open_store(postgres_server.url, {"schema": pg_schema, "clock": clock})
    try:
        assert store.get("kept") == entry
        assert store.state("kept").total_run_count == 7
        assert version_of(postgres_server.url, pg_schema) == schema_module.SCHEMA_VERSION
        assert store.history("kept") == []
        lease = store.lock.acquire("leader", 30)
        assert lease is not None
        clock.advance(60)
        (claim,) = store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
        store.ack(lease, [Ack("kept", claim.state, claim.state, None, runs=(sent("kept", 60),))])
        assert store.history("kept") == [sent("kept", 60)]
    finally:
        store.close()


def test_a_schema_of_version_4_migrates_keeping_its_run_history(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    """Version 5 adds the worker reports: a schedule of version 4 with an entry and its run
    history opens by itself, its history reads as it was, and reports then reach it."""
    clock = FakeClock(T0)
    entry = every("kept", 60)
    state = EntryState(next_run_at=T0 + timedelta(seconds=60), total_run_count=1)
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        assert (
            schema_module.ensure_schema(conn, pg_schema, "test", schema_module.MIGRATIONS[:4]) == 0
        )
        conn.execute(
            f'INSERT INTO "{pg_schema}".entries (name, entry_json, state_json) VALUES (%s, %s, %s)',
            ("kept", serializer.dumps_entry(entry), serializer.dumps_state(state)),
        )
        conn.execute(
            f'INSERT INTO "{pg_schema}".runs (name, seq, record) VALUES (%s, 1, %s)',
            ("kept", sent("kept", 0).to_json()),
        )
    assert version_of(postgres_server.url, pg_schema) == 4
    store = open_store(postgres_server.url, {"schema": pg_schema, "clock": clock})
    try:
        assert store.history("kept") == [sent("kept", 0)]
        assert version_of(postgres_server.url, pg_schema) == schema_module.SCHEMA_VERSION
        record = sent("kept", 0)
        store.record_outcome(
            RunOutcome("kept", record.occurrence, record.task_id, "succeeded", T0, runtime=0.5)
        )
        assert store.history("kept")[0].status == "succeeded"
    finally:
        store.close()


def test_migrations_run_forward_from_an_older_version(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    store = open_store(postgres_server.url, {"schema": pg_schema})
    store.save(every("old"))
    store.close()
    current = schema_module.SCHEMA_VERSION
    step = schema_module.Migration(
        current + 1, "a column for tests", ("ALTER TABLE {schema}.entries ADD COLUMN note text",)
    )
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        found = schema_module.ensure_schema(
            conn, pg_schema, "test", (*schema_module.MIGRATIONS, step)
        )
        assert found == current
        assert conn.execute(f'SELECT name, note FROM "{pg_schema}".entries').fetchall() == [
            ("old", None)
        ]
    assert version_of(postgres_server.url, pg_schema) == current + 1


def test_two_schedules_share_one_database(postgres_server: PostgresServer) -> None:
    from tests.postgres.support import drop_schema, new_schema

    one, two = new_schema(), new_schema()
    a = open_store(postgres_server.url, {"schema": one})
    b = open_store(f"{postgres_server.url}?schema={two}", {})
    try:
        a.save(every("only-in-a"))
        b.save(every("only-in-b"))
        assert [e.name for e in a.entries()] == ["only-in-a"]
        assert [e.name for e in b.entries()] == ["only-in-b"]
        lease_a = a.lock.acquire("a", 30)
        assert lease_a is not None and b.lock.acquire("b", 30) is not None
    finally:
        a.close()
        b.close()
        drop_schema(postgres_server.url, one)
        drop_schema(postgres_server.url, two)


def test_wrong_password_is_a_store_error_naming_the_url_masked(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    url = postgres_server.url.replace(postgres_server.password, "not-the-password")
    store = open_store(url, {"schema": pg_schema, "pool_timeout": 0.5})
    try:
        with pytest.raises(StoreError, match="refused the credentials") as caught:
            store.entries()
        assert "not-the-password" not in str(caught.value)
        assert "****" in str(caught.value)
    finally:
        store.close()


def test_a_server_restart_is_retried_and_the_leader_keeps_its_lease(
    postgres_server: PostgresServer, pg_store: PostgresStore, clock: FakeClock
) -> None:
    pg_store.save(every("a", 60))
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    postgres_server.restart()  # every pooled connection is cut
    clock.advance(60)
    claims = pg_store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
    assert [c.entry.name for c in claims] == ["a"]
    assert pg_store.lock.current() is not None


def test_an_outage_is_store_unavailable_then_heals(
    postgres_server: PostgresServer, pg_schema: str, clock: FakeClock
) -> None:
    store = open_store(
        postgres_server.url,
        {
            "schema": pg_schema,
            "clock": clock,
            "retry_attempts": 2,
            "retry_backoff_base": 0.01,
            "pool_timeout": 0.5,
        },
    )
    try:
        store.save(every("a", 60))
        postgres_server.stop_server()
        try:
            with pytest.raises(StoreUnavailable, match="unreachable after 2 attempts"):
                store.entries()
        finally:
            postgres_server.start()
        assert [e.name for e in store.entries()] == ["a"]
        assert store.state("a").next_run_at == clock() + timedelta(seconds=60)
    finally:
        store.close()


def test_a_version_3_schema_migrates_by_itself_and_its_change_log_starts_empty(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    """A schema of the release before the change log (version 3) is migrated by the first
    call; its entries are kept and the log then keeps what is recorded."""
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        schema_module.ensure_schema(conn, pg_schema, "test", schema_module.MIGRATIONS[:3])
        conn.execute(
            f'INSERT INTO "{pg_schema}".entries (name, entry_json, state_json) VALUES (%s, %s, %s)',
            ("old", serializer.dumps_entry(every("old")), serializer.dumps_state(EntryState())),
        )
    assert version_of(postgres_server.url, pg_schema) == 3
    store = open_store(postgres_server.url, {"schema": pg_schema})
    try:
        assert store.get("old") == every("old")
        assert version_of(postgres_server.url, pg_schema) == schema_module.SCHEMA_VERSION
        assert store.changes() == [] and store.changes("old") == []
        paused = Change("old", "disable", T0, by="ops@host", reason="migrating")
        store.record_changes([paused])
        assert store.changes("old") == [paused]
    finally:
        store.close()
