"""Round trips per store call, counted in libpq's protocol trace: constant in the batch size."""

from __future__ import annotations

from datetime import timedelta

import pytest

from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.store import Ack, Store
from beatcore.testing import FakeClock
from beatcore.testing.contract.history import sent
from beatcore.testing.contract.outcomes import OCC, report, running, sent_record
from beatcore_postgres.store import PostgresStore
from tests.postgres.support import counting_round_trips


def every(name: str, seconds: float = 60, **fields: object) -> Entry:
    return Entry(name=name, task="tests.add", schedule=Interval(seconds), **fields)  # type: ignore[arg-type]


def test_idle_tick_is_one_round_trip(pg_store: PostgresStore, clock: FakeClock) -> None:
    pg_store.sync_static([every(f"s{i}", 3600, static=True) for i in range(300)])
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    with counting_round_trips(pg_store) as trips:
        result = pg_store.claim_due(lease, clock(), limit=1000, reclaim_after=60)
    assert result.claims == ()
    assert trips.count == 1


@pytest.mark.parametrize("due", [1, 250])
def test_claim_and_ack_are_one_round_trip_each_whatever_the_batch(
    pg_store: PostgresStore, clock: FakeClock, due: int
) -> None:
    pg_store.sync_static(
        [every(f"s{i:03d}", 60, static=True) for i in range(due)]
        + [every(f"later{i}", 3600, static=True) for i in range(50)]
    )
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    clock.advance(61)
    with counting_round_trips(pg_store) as trips:
        result = pg_store.claim_due(lease, clock(), limit=1000, reclaim_after=60)
    assert len(result.claims) == due
    assert trips.count == 1
    acks = [
        Ack(
            c.entry.name,
            c.state,
            c.state.evolve(next_run_at=clock() + timedelta(seconds=60), total_run_count=1),
            clock() + timedelta(seconds=60),
        )
        for c in result.claims
    ]
    with counting_round_trips(pg_store) as trips:
        pg_store.ack(lease, acks)
    assert trips.count == 1
    assert pg_store.in_flight() == []


@pytest.mark.parametrize("due", [1, 250])
def test_run_history_rides_in_the_ack_and_reads_in_one_round_trip(
    pg_store: PostgresStore, clock: FakeClock, due: int
) -> None:
    """The ack's one statement appends each entry's records and trims its history."""
    pg_store.history_size = 3
    pg_store.sync_static([every(f"s{i:03d}", 60, static=True) for i in range(due)])
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    for tick in range(2):
        clock.advance(60)
        claims = pg_store.claim_due(lease, clock(), limit=1000, reclaim_after=300).claims
        assert len(claims) == due
        nxt = clock() + timedelta(seconds=60)
        acks = [
            Ack(
                c.entry.name,
                c.state,
                c.state.evolve(next_run_at=nxt),
                nxt,
                runs=(sent(c.entry.name, 60 * tick), sent(c.entry.name, 60 * tick + 1)),
            )
            for c in claims
        ]
        with counting_round_trips(pg_store) as trips:
            pg_store.ack(lease, acks)
        assert trips.count == 1
    with counting_round_trips(pg_store) as trips:
        runs = pg_store.history("s000")
    assert trips.count == 1
    assert runs == [sent("s000", 61), sent("s000", 60), sent("s000", 1)]


@pytest.mark.parametrize("n", [10, 2000])
def test_static_sync_is_one_round_trip_unless_a_stored_entry_changes_or_goes(
    pg_store: PostgresStore, n: int
) -> None:
    """The first sync of n entries, a sync that adds n more, and one with nothing to do are
    one statement each; one that updates and removes stored entries is two (the kit's plan
    for those rows), whatever n."""
    pg_store.entries()  # the first call creates the tables
    first = [every(f"a{i:05d}", 60, static=True) for i in range(n)]
    grown = first + [every(f"b{i:05d}", 60, static=True) for i in range(n)]
    changed = [e.evolve(args=(1,)) for e in grown[: n // 2]] + grown[n:]
    counts = []
    for entries in (first, grown, grown, changed):
        with counting_round_trips(pg_store) as trips:
            report = pg_store.sync_static(entries)
        counts.append(trips.count)
    assert counts == [1, 1, 1, 2]
    assert report.updated == tuple(e.name for e in changed[: n // 2])
    assert report.removed == tuple(e.name for e in grown[n // 2 : n])
    assert report.unchanged == tuple(e.name for e in grown[n:])
    assert len(pg_store.entries()) == len(changed)


def test_status_is_one_round_trip(pg_store: PostgresStore) -> None:
    pg_store.sync_static([every(f"s{i}", 60, static=True) for i in range(20)])
    with counting_round_trips(pg_store) as trips:
        status = pg_store.status()
    assert status.entry_count == 20
    assert trips.count == 1


def test_save_many_is_two_round_trips_whatever_the_batch(pg_store: PostgresStore) -> None:
    pg_store.entries()  # the first call creates the tables
    for n in (10, 400):
        entries = [every(f"m{n}-{i}", 60) for i in range(n)]
        with counting_round_trips(pg_store) as trips:
            report = pg_store.save_many(entries)
        assert len(report.states) == n and not report.refused
        written = trips.count
        with counting_round_trips(pg_store) as trips:
            again = pg_store.save_many(entries)
        assert again.states == report.states
        assert (written, trips.count) == (2, 1)  # read + write; read only when nothing changed


def test_worker_reports_and_the_running_fact_cost_no_more_round_trips(
    pg_store: PostgresStore, clock: FakeClock
) -> None:
    """A report is one statement; the claim returns the running fact, and the ack writes it,
    in their own one statement each."""
    pg_store.save(every("a", 10))
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    clock.set(OCC)
    (claim,) = pg_store.claim_due(lease, OCC, limit=10, reclaim_after=300).claims
    fact = running("a", OCC, held=OCC + timedelta(seconds=10))
    ack = Ack("a", claim.state, claim.state, OCC + timedelta(hours=1),
              runs=(sent_record("a", OCC),), running=fact)  # fmt: skip
    with counting_round_trips(pg_store) as trips:
        pg_store.ack(lease, [ack])
    assert trips.count == 1
    for status in ("started", "succeeded"):
        with counting_round_trips(pg_store) as trips:
            pg_store.record_outcome(report("a", status, OCC + timedelta(seconds=1)))
        assert trips.count == 1, status
    with counting_round_trips(pg_store) as trips:
        (claim,) = pg_store.claim_due(lease, clock(), limit=10, reclaim_after=300).claims
    assert trips.count == 1
    assert claim.running is not None and claim.running.ended  # due at once: its run ended


@pytest.mark.parametrize("descending", [False, True])
def test_a_page_is_one_round_trip_and_a_nul_cursor_pages_as_the_default(
    pg_store: PostgresStore, descending: bool
) -> None:
    """entries_page reads one page in one query; a cursor holding NUL (no stored name can)
    gives what Store's whole-schedule default gives."""
    pg_store.save_many([every(f"p-{i:03d}") for i in range(40)])
    with counting_round_trips(pg_store) as trips:
        page = pg_store.entries_page("p-010", 3, descending=descending)
    assert trips.count == 1
    expected = ["p-009", "p-008", "p-007"] if descending else ["p-011", "p-012", "p-013"]
    assert [item[0].name for item in page if isinstance(item, tuple)] == expected
    cursor = "p-010\x00x"
    default = Store.entries_page(pg_store, cursor, 3, descending=descending)
    assert pg_store.entries_page(cursor, 3, descending=descending) == default


@pytest.mark.parametrize("count", [3, 300])
def test_last_runs_is_one_round_trip_with_the_workers_report(
    pg_store: PostgresStore, clock: FakeClock, count: int
) -> None:
    """last_runs (``list``'s last-outcome column): one query whatever the number of names,
    each newest record with its worker's report applied; an entry without runs, and a name
    that does not exist, are left out."""
    names = [f"r{i:03d}" for i in range(count)]
    pg_store.save_many([every(name, 10) for name in names] + [every("never-ran", 3600)])
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    clock.set(OCC)
    claims = pg_store.claim_due(lease, OCC, limit=1000, reclaim_after=300).claims
    nxt = OCC + timedelta(hours=1)
    pg_store.ack(
        lease,
        [Ack(c.entry.name, c.state, c.state, nxt, runs=(sent_record(c.entry.name, OCC),))
         for c in claims],
    )  # fmt: skip
    pg_store.record_outcome(report("r000", "succeeded", OCC + timedelta(seconds=2), runtime=1.5))
    with counting_round_trips(pg_store) as trips:
        last = pg_store.last_runs([*names, "never-ran", "missing", "r000"])
    assert trips.count == 1
    assert set(last) == set(names)
    assert last["r000"].status == "succeeded" and last["r000"].runtime == 1.5
    assert last["r001"].outcome == "sent" and last["r001"].status is None
