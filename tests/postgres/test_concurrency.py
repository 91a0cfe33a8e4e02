"""The leader never waits for a management write, and a paused ex-leader writes nothing."""

from __future__ import annotations

import psycopg

from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.store import Ack
from beatcore.testing import FakeClock
from beatcore_postgres.store import PostgresStore
from tests.support.postgres_server import PostgresServer


def every(name: str, seconds: float = 60) -> Entry:
    return Entry(name=name, task="tests.add", schedule=Interval(seconds))


def test_claim_skips_a_row_another_transaction_holds_and_takes_it_next_tick(
    postgres_server: PostgresServer, pg_store: PostgresStore, clock: FakeClock
) -> None:
    pg_store.save(every("held", 60))
    pg_store.save(every("free", 60))
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    clock.advance(60)
    with psycopg.connect(postgres_server.url) as other:
        other.execute(
            f'SELECT 1 FROM "{pg_store.spec.schema}".entries WHERE name = %s FOR UPDATE',
            ("held",),
        )
        # the transaction stays open: a claim that waited for it would hang here
        other.execute("SET statement_timeout = 0")
        result = pg_store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        assert [c.entry.name for c in result.claims] == ["free"]
        assert result.next_due_at is not None and result.next_due_at <= clock()
        other.rollback()
    again = pg_store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    assert [c.entry.name for c in again.claims] == ["held"]


def test_management_writes_go_on_while_entries_are_in_flight(
    pg_store: PostgresStore, clock: FakeClock
) -> None:
    pg_store.save(every("a", 60))
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    clock.advance(60)
    (_claim,) = pg_store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
    pg_store.save(every("a", 300))
    pg_store.trigger("a")
    pg_store.set_enabled("a", False)
    assert pg_store.get("a").enabled is False
    assert [f.name for f in pg_store.in_flight()] == ["a"]


def test_an_ack_of_an_entry_never_claimed_writes_its_state(
    pg_store: PostgresStore, clock: FakeClock
) -> None:
    """As the other stores do: the migrations write run history with a fenced ack."""
    state = pg_store.save(every("a", 60))
    lease = pg_store.lock.acquire("migration", 30)
    assert lease is not None
    history = state.evolve(last_run_at=clock(), total_run_count=7)
    pg_store.ack(lease, [Ack("a", state, history, state.next_run_at)])
    assert pg_store.state("a") == history
