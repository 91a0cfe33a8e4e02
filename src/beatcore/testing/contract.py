"""``StoreContract``: the tests every :class:`~beatcore.store.Store` must pass.

A backend overrides two fixtures and, where its lock expires on real time rather than on the
injected clock, one capability flag::

    class TestMyStore(StoreContract):
        lock_expiry_follows_clock = False

        @pytest.fixture
        def store(self, clock):
            return MyStore(..., clock=clock)

        @pytest.fixture
        def plant_corrupt_record(self, store):
            return lambda name, due_at: my_write_garbage(store, name, due_at)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs
import pytest

from beatcore.entry import Entry
from beatcore.errors import CorruptRecord, EntryNotFound, LockLost
from beatcore.schedules import Clocked, Crontab, Interval
from beatcore.store import Ack, Claim, Lease, Store
from beatcore.testing.clock import FakeClock
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PlantCorrupt = Callable[[str, datetime], None]


def every(name: str, seconds: float = 60, **fields: object) -> Entry:
    """An interval entry for the tests."""
    return Entry(name=name, task="tests.add", schedule=Interval(seconds), **fields)  # type: ignore[arg-type]


class StoreContract:
    """The contract suite. Subclass it and override ``store`` and ``plant_corrupt_record``."""

    #: False when the store's lock lapses on real time (e.g. Redis PX), not on ``clock``.
    lock_expiry_follows_clock: bool = True
    #: Lease TTL used by the tests (short when expiry follows real time).
    lock_ttl: float = 30.0
    #: Seconds to wait for a real-time lock expiry (only when not following the clock).
    real_ttl: float = 0.3

    @pytest.fixture
    def clock(self) -> FakeClock:
        """The clock given to the store; starts at 2026-01-05 12:00 UTC."""
        return FakeClock(T0)

    @pytest.fixture
    def store(self, clock: FakeClock) -> Store:
        """An empty store using ``clock``: override this in your subclass."""
        raise NotImplementedError("override the 'store' fixture to run the store contract")

    @pytest.fixture
    def plant_corrupt_record(self, store: Store) -> PlantCorrupt:
        """A function writing an unreadable, due record ``name``: override it."""
        raise NotImplementedError("override 'plant_corrupt_record' to run the store contract")

    # -- helpers -------------------------------------------------------------------------

    def lead(self, store: Store, holder: str = "tests:1") -> Lease:
        lease = store.lock.acquire(holder, self.lock_ttl)
        assert lease is not None, "a free lock must be acquired"
        return lease

    def expire_lock(self, clock: FakeClock, ttl: float) -> None:
        if self.lock_expiry_follows_clock:
            clock.advance(ttl + 1)
        else:
            time.sleep(ttl + 0.3)

    def ack_all(
        self, store: Store, lease: Lease, claims: tuple[Claim, ...], now: datetime, step: float = 60
    ) -> None:
        acks = []
        for claim in claims:
            nxt = now + timedelta(seconds=step)
            new = claim.state.evolve(
                next_run_at=nxt,
                last_run_at=claim.state.next_run_at,
                total_run_count=claim.state.total_run_count + 1,
                triggered_at=None,
            )
            acks.append(Ack(claim.entry.name, claim.state, new, nxt))
        store.ack(lease, acks)

    # -- definitions ---------------------------------------------------------------------

    def test_save_and_get_round_trip(self, store: Store, clock: FakeClock) -> None:
        entry = Entry(
            name="report",
            task="tests.report",
            schedule=Crontab("30 2 * * MON-FRI"),
            args=(1, "a"),
            kwargs={"k": [1, 2]},
            options={"queue": "q", "priority": 3},
            tz="Europe/Berlin",
            catch_up="all",
            misfire_grace=30,
            jitter=5,
            max_runs=9,
            start_at=T0,
            end_at=T0 + timedelta(days=30),
        )
        store.save(entry)
        assert store.get("report") == entry
        assert [e.name for e in store.entries()] == ["report"]

    def test_new_entry_gets_its_first_occurrence(self, store: Store, clock: FakeClock) -> None:
        state = store.save(every("a", 60))
        assert state.next_run_at == T0 + timedelta(seconds=60)
        assert store.state("a") == state
        assert state.total_run_count == 0

    def test_missing_entry_raises_entry_not_found(self, store: Store) -> None:
        for call in (store.get, store.state, store.delete, store.trigger):
            with pytest.raises(EntryNotFound):
                call("nope")
        with pytest.raises(EntryNotFound):
            store.set_enabled("nope", False)

    def test_delete_removes_entry_and_state(self, store: Store) -> None:
        store.save(every("a"))
        store.save(every("b"))
        store.delete("a")
        assert [e.name for e in store.entries()] == ["b"]
        with pytest.raises(EntryNotFound):
            store.state("a")

    def test_entries_are_sorted_by_name(self, store: Store) -> None:
        for name in ("c", "a", "b"):
            store.save(every(name))
        assert [e.name for e in store.entries()] == ["a", "b", "c"]

    def test_update_keeps_state_unless_timing_changes(self, store: Store, clock: FakeClock) -> None:
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(61)
        result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        self.ack_all(store, lease, result.claims, clock())
        kept = store.state("a")
        assert kept.total_run_count == 1

        store.save(every("a", 60, args=(2,)))
        assert store.state("a") == kept

        clock.advance(5)
        store.save(every("a", 300))
        changed = store.state("a")
        assert changed.next_run_at == clock() + timedelta(seconds=300)
        assert changed.total_run_count == 1
        assert changed.last_run_at == kept.last_run_at

    # -- enable, disable, trigger --------------------------------------------------------

    def test_disabled_entry_is_not_claimed(self, store: Store, clock: FakeClock) -> None:
        store.save(every("a", 60))
        store.save(every("b", 60))
        store.set_enabled("a", False)
        assert store.get("a").enabled is False
        lease = self.lead(store)
        clock.advance(120)
        result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        assert [c.entry.name for c in result.claims] == ["b"]

    def test_reenabling_reschedules_from_now(self, store: Store, clock: FakeClock) -> None:
        store.save(every("a", 60))
        store.set_enabled("a", False)
        clock.advance(3600)
        store.set_enabled("a", True)
        assert store.state("a").next_run_at == clock() + timedelta(seconds=60)
        lease = self.lead(store)
        assert store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims == ()

    def test_trigger_makes_entry_due_now_keeping_its_schedule(
        self, store: Store, clock: FakeClock
    ) -> None:
        store.save(every("a", 3600))
        store.save(every("off", 3600, enabled=False))
        store.trigger("a")
        store.trigger("off")
        lease = self.lead(store)
        result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        claimed = {c.entry.name: c.state for c in result.claims}
        assert set(claimed) == {"a", "off"}
        assert claimed["a"].triggered_at == T0
        assert claimed["a"].next_run_at == T0 + timedelta(hours=1)

    # -- static sync ---------------------------------------------------------------------

    def test_static_sync_adds_updates_removes_and_keeps_dynamic(
        self, store: Store, clock: FakeClock
    ) -> None:
        store.save(every("dynamic", 60))
        report = store.sync_static([every("s1", 60, static=True), every("s2", 60, static=True)])
        assert sorted(report.added) == ["s1", "s2"]
        s1_state = store.state("s1")

        report = store.sync_static(
            [every("s1", 60, static=True, args=(1,)), every("s3", 60, static=True)]
        )
        assert report.added == ("s3",)
        assert report.updated == ("s1",)
        assert report.removed == ("s2",)
        assert store.state("s1") == s1_state
        assert [e.name for e in store.entries()] == ["dynamic", "s1", "s3"]

        report = store.sync_static([every("s1", 60, static=True, args=(1,))], keep=["s3"])
        assert report.unchanged == ("s1",)
        assert report.removed == ()
        assert [e.name for e in store.entries()] == ["dynamic", "s1", "s3"]

    # -- claim and ack -------------------------------------------------------------------

    def test_claim_returns_due_entries_in_due_order_up_to_limit(
        self, store: Store, clock: FakeClock
    ) -> None:
        for name, seconds in (("late", 30), ("early", 10), ("middle", 20), ("future", 999)):
            store.save(every(name, seconds))
        lease = self.lead(store)
        clock.advance(40)
        first = store.claim_due(lease, clock(), limit=2, reclaim_after=30)
        assert [c.entry.name for c in first.claims] == ["early", "middle"]
        assert first.next_due_at == T0 + timedelta(seconds=30)
        second = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        assert [c.entry.name for c in second.claims] == ["late"]
        assert second.next_due_at == T0 + timedelta(seconds=999)

    def test_idle_claim_returns_nothing_and_next_due(self, store: Store, clock: FakeClock) -> None:
        store.save(every("a", 60))
        lease = self.lead(store)
        result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        assert result.claims == ()
        assert result.next_due_at == T0 + timedelta(seconds=60)

    def test_claimed_entry_is_not_claimed_again_before_ack(
        self, store: Store, clock: FakeClock
    ) -> None:
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(60)
        assert len(store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims) == 1
        assert store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims == ()
        assert [f.name for f in store.in_flight()] == ["a"]

    def test_ack_writes_state_and_reschedules(self, store: Store, clock: FakeClock) -> None:
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(60)
        result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        self.ack_all(store, lease, result.claims, clock(), step=60)
        state = store.state("a")
        assert state.total_run_count == 1
        assert state.last_run_at == T0 + timedelta(seconds=60)
        assert state.next_run_at == clock() + timedelta(seconds=60)
        assert store.in_flight() == []
        clock.advance(60)
        again = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        assert [c.entry.name for c in again.claims] == ["a"]

    def test_ack_due_at_delays_a_retry(self, store: Store, clock: FakeClock) -> None:
        """A failed send is acked with its state unchanged and a later due_at (retry delay)."""
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(60)
        (claim,) = store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
        failed = claim.state.evolve(last_error="send failed: broker down")
        retry_at = clock() + timedelta(seconds=5)
        store.ack(lease, [Ack("a", claimed=claim.state, state=failed, due_at=retry_at)])
        assert store.state("a") == failed
        clock.advance(4)
        assert store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims == ()
        clock.advance(1)
        again = store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
        assert [(c.entry.name, c.state.next_run_at) for c in again] == [
            ("a", claim.state.next_run_at)
        ]

    def test_unacked_claim_is_recovered_after_reclaim_after(
        self, store: Store, clock: FakeClock
    ) -> None:
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(60)
        first = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        clock.advance(10)
        assert store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims == ()
        clock.advance(25)
        again = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        assert [(c.entry.name, c.recovered) for c in again.claims] == [("a", True)]
        assert again.claims[0].state == first.claims[0].state

    def test_ack_keeps_changes_made_while_in_flight(self, store: Store, clock: FakeClock) -> None:
        for name in ("resaved", "deleted", "disabled", "triggered"):
            store.save(every(name, 60))
        lease = self.lead(store)
        clock.advance(60)
        claims = store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
        assert len(claims) == 4
        store.save(every("resaved", 600))
        store.delete("deleted")
        store.set_enabled("disabled", False)
        store.trigger("triggered", clock() + timedelta(seconds=1))
        self.ack_all(store, lease, claims, clock(), step=60)

        assert store.state("resaved").next_run_at == clock() + timedelta(seconds=600)
        assert store.state("resaved").total_run_count == 1
        assert [e.name for e in store.entries()] == ["disabled", "resaved", "triggered"]
        assert store.state("triggered").triggered_at == clock() + timedelta(seconds=1)
        clock.advance(61)
        due = store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
        assert sorted(c.entry.name for c in due) == ["triggered"]

    def test_concurrent_claimers_never_claim_the_same_entry(
        self, store: Store, clock: FakeClock
    ) -> None:
        for i in range(60):
            store.save(every(f"e{i:02d}", 10 + i % 7))
        lease = self.lead(store)
        clock.advance(30)
        claimed: list[str] = []
        mutex = threading.Lock()
        errors: list[BaseException] = []

        def claimer() -> None:
            try:
                for _ in range(10):
                    got = store.claim_due(lease, clock(), limit=4, reclaim_after=300).claims
                    with mutex:
                        claimed.extend(c.entry.name for c in got)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=claimer) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(claimed) == [f"e{i:02d}" for i in range(60)]

    def test_clocked_entry_saved_past_its_time_is_due_at_once_and_once_only(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Save: a one-off saved after its instant is due at that instant (the next tick)."""
        at = T0 - timedelta(hours=1)
        past = Entry(name="past", task="t", schedule=Clocked(at))
        assert store.save(past).next_run_at == at, "a past one-off must be due, not dropped"
        lease = self.lead(store)
        claims = store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
        assert [claim.entry.name for claim in claims] == ["past"]
        ran = claims[0].state.evolve(next_run_at=None, last_run_at=at, total_run_count=1)
        store.ack(lease, [Ack("past", claims[0].state, ran, None)])
        clock.advance(3600)
        assert store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims == ()
        # Saved again unchanged, or disabled and enabled again, it does not run a second time.
        store.save(past)
        store.save(attrs.evolve(past, enabled=False))
        assert store.save(past).next_run_at is None

    # -- lock and fencing ----------------------------------------------------------------

    def test_lock_is_exclusive_and_tokens_increase(self, store: Store, clock: FakeClock) -> None:
        first = self.lead(store, "a")
        assert store.lock.acquire("b", self.lock_ttl) is None
        info = store.lock.current()
        assert info is not None and info.holder == "a" and info.token == first.token
        store.lock.release(first)
        second = self.lead(store, "b")
        assert second.token > first.token

    def test_lock_lapses_after_ttl_and_stale_holder_is_fenced(
        self, store: Store, clock: FakeClock
    ) -> None:
        ttl = self.lock_ttl if self.lock_expiry_follows_clock else self.real_ttl
        store.save(every("a", 60))
        old = store.lock.acquire("old", ttl)
        assert old is not None
        self.expire_lock(clock, ttl)
        new = store.lock.acquire("new", ttl)
        assert new is not None and new.token > old.token
        clock.advance(60)
        with pytest.raises(LockLost):
            store.claim_due(old, clock(), limit=10, reclaim_after=30)
        with pytest.raises(LockLost):
            store.lock.renew(old)
        claims = store.claim_due(new, clock(), limit=10, reclaim_after=30).claims
        with pytest.raises(LockLost):
            self.ack_all(store, old, claims, clock())
        assert store.state("a").total_run_count == 0
        self.ack_all(store, new, claims, clock())
        assert store.state("a").total_run_count == 1

    def test_renew_keeps_the_lease_alive(self, store: Store, clock: FakeClock) -> None:
        ttl = self.lock_ttl if self.lock_expiry_follows_clock else self.real_ttl
        lease = store.lock.acquire("a", ttl)
        assert lease is not None
        for _ in range(3):
            if self.lock_expiry_follows_clock:
                clock.advance(ttl * 0.6)
            else:
                time.sleep(ttl * 0.6)
            assert store.lock.renew(lease).token == lease.token
            assert store.lock.acquire("b", ttl) is None

    def test_released_lease_is_stale(self, store: Store, clock: FakeClock) -> None:
        lease = self.lead(store)
        store.lock.release(lease)
        assert store.lock.current() is None
        with pytest.raises(LockLost):
            store.claim_due(lease, clock(), limit=10, reclaim_after=30)

    # -- bad data ------------------------------------------------------------------------

    def test_corrupt_record_is_reported_skipped_and_kept(
        self, store: Store, clock: FakeClock, plant_corrupt_record: PlantCorrupt
    ) -> None:
        store.save(every("good", 10))
        plant_corrupt_record("broken", T0)
        assert [e.name for e in store.entries()] == ["good"]
        assert [err.name for err in store.corrupt_records()] == ["broken"]
        lease = self.lead(store)
        clock.advance(10)
        result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        assert [c.entry.name for c in result.claims] == ["good"]
        assert [err.name for err in result.corrupt] == ["broken"]
        with pytest.raises(CorruptRecord):
            store.get("broken")
        again = store.claim_due(lease, clock() + timedelta(seconds=1), limit=10, reclaim_after=30)
        assert again.corrupt == ()
        assert [err.name for err in store.corrupt_records()] == ["broken"]

    # -- status --------------------------------------------------------------------------

    def test_status_reports_leader_tick_counts_and_in_flight(
        self, store: Store, clock: FakeClock
    ) -> None:
        store.save(every("a", 10))
        store.save(every("b", 20))
        lease = self.lead(store, "host:1:start")
        clock.advance(10)
        store.claim_due(lease, clock(), limit=10, reclaim_after=30)
        status = store.status()
        assert status.leader is not None and status.leader.holder == "host:1:start"
        assert status.last_tick_at == clock()
        assert status.entry_count == 2
        assert [f.name for f in status.in_flight] == ["a"]
        assert status.next_due_at == T0 + timedelta(seconds=20)
        assert "://" in status.url

    # -- lifetime ------------------------------------------------------------------------

    def test_store_is_a_context_manager_that_closes_it(self, store: Store) -> None:
        """``with store:`` gives the store itself and calls ``close()`` once on the way out."""
        closed: list[bool] = []
        close = store.close

        def counting_close() -> None:
            closed.append(True)
            close()

        store.close = counting_close  # type: ignore[method-assign]
        with store as opened:
            assert opened is store
            opened.save(every("a"))
            assert not closed
        assert closed == [True]
