"""The static sync's one statement: what it decides from the bytes, what it leaves to the kit."""

from __future__ import annotations

import json
import threading

import psycopg

from beatcore import serializer
from beatcore.entry import Entry, EntryState
from beatcore.schedules import Interval
from beatcore.testing import FakeClock
from beatcore_postgres.store import PostgresStore
from tests.postgres.support import counting_round_trips
from tests.support.postgres_server import PostgresServer


def every(name: str, seconds: float = 60, **fields: object) -> Entry:
    return Entry(name=name, task="tests.add", schedule=Interval(seconds), static=True, **fields)  # type: ignore[arg-type]


def rev(url: str, store: PostgresStore, name: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f'SELECT rev FROM "{store.spec.schema}".entries WHERE name = %s', (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def execute(url: str, store: PostgresStore, sql: str, *params: object) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.replace("{s}", f'"{store.spec.schema}"'), params)


def test_a_definition_stored_in_another_form_reads_as_unchanged(
    postgres_server: PostgresServer, pg_store: PostgresStore
) -> None:
    """A record an older release wrote (every field, other key order) differs in its bytes:
    the kit reads it and finds it equal, so nothing is written."""
    entry = every("a")
    pg_store.sync_static([entry])
    spelled_out = json.dumps(serializer.entry_to_dict(entry), indent=1)
    execute(postgres_server.url, pg_store, "UPDATE {s}.entries SET entry_json = %s", spelled_out)
    before = rev(postgres_server.url, pg_store, "a")
    with counting_round_trips(pg_store) as trips:
        report = pg_store.sync_static([entry])
    assert report.unchanged == ("a",) and report.updated == ()
    assert trips.count == 1  # the kit decided nothing changes: no write
    assert rev(postgres_server.url, pg_store, "a") == before


def test_a_record_noted_unreadable_is_replaced_although_its_definition_is_the_same(
    postgres_server: PostgresServer, pg_store: PostgresStore, clock: FakeClock
) -> None:
    """Equal bytes are not enough when a tick noted the record unreadable (its state here):
    the kit replaces it as new, so the entry runs again."""
    entry = every("a")
    pg_store.sync_static([entry])
    execute(
        postgres_server.url,
        pg_store,
        "UPDATE {s}.entries SET state_json = '{{', error = 'bad state', error_at = now()",
    )
    report = pg_store.sync_static([entry])
    assert report.updated == ("a",)
    assert pg_store.state("a").next_run_at is not None
    assert pg_store.unreadable_records() == []


def test_a_static_row_that_does_not_read_is_kept_and_a_readable_one_removed(
    postgres_server: PostgresServer, pg_store: PostgresStore
) -> None:
    """Removal is the kit's: an unreadable static definition may be a newer release's."""
    pg_store.sync_static([every("gone"), every("odd"), every("stays")])
    execute(
        postgres_server.url,
        pg_store,
        "UPDATE {s}.entries SET entry_json = %s WHERE name = 'odd'",
        '{"v": 99, "name": "odd"}',
    )
    report = pg_store.sync_static([every("stays")])
    assert report.removed == ("gone",) and report.unchanged == ("stays",)
    execute(postgres_server.url, pg_store, "UPDATE {s}.entries SET error = NULL")
    with psycopg.connect(postgres_server.url) as conn:
        names = conn.execute(
            f'SELECT name FROM "{pg_store.spec.schema}".entries ORDER BY name'
        ).fetchall()
    assert [n for (n,) in names] == ["odd", "stays"]


def test_a_name_another_process_inserts_meanwhile_is_planned_again(
    postgres_server: PostgresServer, pg_store: PostgresStore, clock: FakeClock
) -> None:
    """The sync's insert meets a row committed after its snapshot: it reads again and
    updates that row with the kit's plan instead of losing the entry."""
    pg_store.entries()  # the first call creates the tables
    schema = pg_store.spec.schema
    other = psycopg.connect(postgres_server.url)
    other.execute(
        f'INSERT INTO "{schema}".entries (name, entry_json, state_json, static)'
        " VALUES ('a', %s, %s, true)",
        (
            serializer.dumps_entry(every("a", 300)),
            serializer.dumps_state(EntryState(next_run_at=clock())),
        ),
    )
    result: list[object] = []
    syncing = threading.Thread(target=lambda: result.append(pg_store.sync_static([every("a")])))
    syncing.start()
    with psycopg.connect(postgres_server.url, autocommit=True) as watch:
        while not watch.execute(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND application_name = 'beatcore')"
        ).fetchone()[0]:  # type: ignore[index]
            watch.execute("SELECT pg_sleep(0.01)")
    other.commit()
    other.close()
    syncing.join(timeout=30)
    (report,) = result
    assert report.updated == ("a",)  # type: ignore[attr-defined]
    assert pg_store.get("a") == every("a")
