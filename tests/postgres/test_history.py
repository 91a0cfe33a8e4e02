"""The PostgreSQL store's run history (table ``runs``), beyond the contract's history clause:
what an ack meets in flight, the deletes that take it along, and its size on disk."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.store import Ack, Claim, Lease, RunRecord
from beatcore.testing import FakeClock
from beatcore.testing.contract.history import sent
from beatcore_postgres.store import PostgresStore
from tests.support.postgres_server import PostgresServer


def every(name: str, seconds: float = 60, **fields: object) -> Entry:
    return Entry(name=name, task="tests.add", schedule=Interval(seconds), **fields)  # type: ignore[arg-type]


def claim_all(store: PostgresStore, clock: FakeClock) -> tuple[Lease, tuple[Claim, ...]]:
    lease = store.lock.acquire("leader", 30)
    assert lease is not None
    return lease, store.claim_due(lease, clock(), limit=1000, reclaim_after=300).claims


def acked(claims: tuple[Claim, ...], *runs: RunRecord) -> list[Ack]:
    return [Ack(c.entry.name, c.state, c.state, None, runs=runs) for c in claims]


def rows_of(url: str, schema: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f'SELECT name, seq FROM "{schema}".runs ORDER BY name, seq')
        return [(str(name), int(seq)) for name, seq in rows.fetchall()]


def test_an_entry_changed_in_flight_keeps_its_runs_deleted_gets_none(
    pg_store: PostgresStore, clock: FakeClock, postgres_server: PostgresServer
) -> None:
    """The runs go with the statement that writes the state: the merge pass for an entry
    saved in flight; none for one deleted in flight (and the ack does not fail on it)."""
    for name in ("changed", "deleted", "same"):
        pg_store.save(every(name, 10))
    clock.advance(10)
    lease, claims = claim_all(pg_store, clock)
    pg_store.save(every("changed", 10, args=(1,)))
    pg_store.delete("deleted")
    pg_store.ack(lease, acked(claims, sent("x", 10)))
    assert pg_store.history("changed") == [sent("x", 10)]
    assert pg_store.history("same") == [sent("x", 10)]
    assert rows_of(postgres_server.url, pg_store.spec.schema) == [("changed", 1), ("same", 1)]


def test_the_static_sync_and_delete_take_the_history_along(
    pg_store: PostgresStore, clock: FakeClock, postgres_server: PostgresServer
) -> None:
    pg_store.save(every("dynamic", 10))
    pg_store.sync_static([every("static", 10, static=True)])
    clock.advance(10)
    lease, claims = claim_all(pg_store, clock)
    pg_store.ack(lease, acked(claims, sent("x", 10)))
    assert len(rows_of(postgres_server.url, pg_store.spec.schema)) == 2
    pg_store.delete("dynamic")
    pg_store.sync_static([])
    assert rows_of(postgres_server.url, pg_store.spec.schema) == []


def test_trimming_keeps_the_newest_rows_numbered_on(
    pg_store: PostgresStore, clock: FakeClock, postgres_server: PostgresServer
) -> None:
    pg_store.history_size = 2
    pg_store.save(every("a", 10))
    for tick in range(3):
        clock.advance(10)
        lease, claims = claim_all(pg_store, clock)
        nxt = clock() + timedelta(seconds=10)
        pg_store.ack(
            lease,
            [
                Ack(c.entry.name, c.state, c.state.evolve(next_run_at=nxt), nxt,
                    runs=(sent("a", tick),))
                for c in claims
            ],
        )  # fmt: skip
    assert rows_of(postgres_server.url, pg_store.spec.schema) == [("a", 2), ("a", 3)]
    assert pg_store.history("a") == [sent("a", 2), sent("a", 1)]


def test_an_unreadable_record_is_left_out(
    pg_store: PostgresStore, clock: FakeClock, postgres_server: PostgresServer
) -> None:
    pg_store.save(every("a", 10))
    clock.advance(10)
    lease, claims = claim_all(pg_store, clock)
    pg_store.ack(lease, acked(claims, sent("a", 1), sent("a", 2)))
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO \"{pg_store.spec.schema}\".runs VALUES ('a', 3, '{{garbage')")
    assert pg_store.history("a", limit=2) == [sent("a", 2), sent("a", 1)]


def test_bytes_per_history_row(
    pg_store: PostgresStore, clock: FakeClock, postgres_server: PostgresServer
) -> None:
    """The table and its index per record (for the docs; run with ``-s``)."""
    entries = 50
    for i in range(entries):
        pg_store.save(every(f"nightly-report-{i:02d}", 10))
    clock.advance(10)
    lease, claims = claim_all(pg_store, clock)
    runs = [sent("nightly-report", s) for s in range(pg_store.history_size)]
    pg_store.ack(lease, acked(claims, *runs))
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f'VACUUM ANALYZE "{pg_store.spec.schema}".runs')
        row = conn.execute(
            "SELECT pg_total_relation_size(%s), pg_relation_size(%s), count(*) FROM "
            f'"{pg_store.spec.schema}".runs',
            (f'"{pg_store.spec.schema}".runs', f'"{pg_store.spec.schema}".runs'),
        ).fetchone()
    assert row is not None
    total, heap, count = row
    assert count == entries * len(runs)
    print(f"\nruns: {count} rows, {total / count:.0f} B per record ({heap / count:.0f} B heap), "
          f"{len(runs[0].to_json())} B of JSON each")  # fmt: skip


def test_an_ack_sent_again_records_its_runs_once(pg_store: PostgresStore, clock: FakeClock) -> None:
    """A retry after a lost reply runs an ack whose first attempt committed: the row is no
    longer claimed, so its runs are not recorded again."""
    pg_store.save(every("a", 10))
    pg_store.save(every("changed", 10))
    clock.advance(10)
    lease, claims = claim_all(pg_store, clock)
    pg_store.save(every("changed", 10, args=(1,)))  # its ack goes through the merge pass
    acks = acked(claims, sent("x", 10))
    pg_store.ack(lease, acks)
    pg_store.ack(lease, acks)
    assert pg_store.history("a") == [sent("x", 10)]
    assert pg_store.history("changed") == [sent("x", 10)]
