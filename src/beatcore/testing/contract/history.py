"""Contract clause of the run history: :meth:`Store.history`, written by :meth:`Store.ack`
from ``Ack.runs``, bounded by :attr:`Store.history_size`."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from beatcore import timing
from beatcore.errors import EntryNotFound, LockLost
from beatcore.store import Ack, Lease, RunRecord, Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import T0, ContractBase, every, expect


def sent(name: str, seconds: float, late: float = 0.5) -> RunRecord:
    """The record of the occurrence ``seconds`` after T0 of ``name``, sent ``late`` s late."""
    at = T0 + timedelta(seconds=seconds)
    return RunRecord(
        at,
        timing.task_id(name, at),
        "sent",
        sent_at=at + timedelta(seconds=late),
        lateness=late,
    )


class HistoryContract(ContractBase):
    """Each ack adds its run records to the entry's history, newest kept, oldest dropped."""

    #: False for a store that keeps no run history yet (its history is always empty).
    keeps_history: bool = True

    @pytest.fixture
    def history_store(self, store: Store) -> Store:
        """The store, skipping the history cases when it keeps none."""
        if not self.keeps_history:
            pytest.skip("the store keeps no run history (keeps_history = False)")
        return store

    def ack_runs(self, store: Store, lease: Lease, clock: FakeClock, *runs: RunRecord) -> None:
        """Claim what is due and ack each claimed entry with ``runs`` as its records."""
        for claim in self.claim(store, lease, clock()).claims:
            ack = Ack(claim.entry.name, claim.state, claim.state, clock() + timedelta(hours=1))
            store.ack(lease, [attrs.evolve(ack, runs=runs)])

    def test_an_entry_that_never_ran_has_an_empty_history(self, store: Store) -> None:
        """Store.history: ``[]`` for an entry with no run yet (on every store, also one that
        keeps no history); an entry that does not exist raises EntryNotFound where kept."""
        store.save(every("a", 60))
        expect(store.history("a"), [], "history of an entry that never ran")
        if self.keeps_history:
            with pytest.raises(EntryNotFound):
                store.history("missing")

    def test_ack_records_runs_newest_first_with_every_field(
        self, history_store: Store, clock: FakeClock
    ) -> None:
        """Store.ack writes Ack.runs; Store.history returns them newest first, as given."""
        store = history_store
        store.save(every("a", 10))
        lease = self.lead(store)
        clock.advance(10)
        skipped = RunRecord(T0, timing.task_id("a", T0), "skipped", "missed, catch_up=latest")
        failed = RunRecord(T0 + timedelta(seconds=5), "id-5", "send_failed", "broker: refused")
        self.ack_runs(store, lease, clock, skipped, failed, sent("a", 10))
        expect(store.history("a"), [sent("a", 10), failed, skipped], "history after one ack")
        expect(store.history("a", limit=2), [sent("a", 10), failed], "history with limit=2")

    def test_history_is_bounded_by_history_size(
        self, history_store: Store, clock: FakeClock
    ) -> None:
        """Store.history_size: at most that many records per entry, the newest."""
        store = history_store
        store.history_size = 3
        store.save(every("a", 1))
        lease = self.lead(store)
        for second in range(1, 6):
            clock.set(T0 + timedelta(seconds=second))
            store.trigger("a")
            self.ack_runs(store, lease, clock, sent("a", second))
        expect(
            [r.occurrence for r in store.history("a")],
            [T0 + timedelta(seconds=s) for s in (5, 4, 3)],
            "history with history_size=3 after five acks",
        )
        clock.advance(1)
        store.trigger("a")
        self.ack_runs(store, lease, clock, *(sent("a", 100 + s) for s in range(10)))
        expect(len(store.history("a")), 3, "records kept after an ack of ten with size 3")

    def test_a_stale_lease_writes_no_history(
        self, history_store: Store, clock: FakeClock, lock_follows_clock: bool
    ) -> None:
        """Store.ack with a superseded lease raises LockLost and records nothing."""
        store = history_store
        store.save(every("a", 10))
        ttl = self.ttl(lock_follows_clock)
        old = store.lock.acquire("old:1", ttl)
        assert old is not None, "Lock.acquire of a free lock: got None"
        clock.advance(10)
        (claim,) = self.claim(store, old, clock()).claims
        self.expire_lock(clock, ttl, lock_follows_clock)
        assert store.lock.acquire("new:1", ttl) is not None, "Lock.acquire after the ttl lapsed"
        with pytest.raises(LockLost):
            store.ack(old, [Ack("a", claim.state, claim.state, None, runs=(sent("a", 10),))])
        expect(store.history("a"), [], "history after a stale ack")

    def test_history_survives_a_save_and_goes_with_a_delete(
        self, history_store: Store, clock: FakeClock
    ) -> None:
        """A save (new definition) keeps the history; a delete removes it, so an entry
        saved again under the name starts empty."""
        store = history_store
        store.save(every("a", 10))
        lease = self.lead(store)
        clock.advance(10)
        self.ack_runs(store, lease, clock, sent("a", 10))
        store.save(every("a", 20))
        expect(store.history("a"), [sent("a", 10)], "history after a save")
        store.delete("a")
        store.save(every("a", 10))
        expect(store.history("a"), [], "history of an entry deleted and saved again")

    def test_last_runs_gives_the_newest_record_of_each_entry(
        self, history_store: Store, clock: FakeClock
    ) -> None:
        """Store.last_runs: the newest record of each named entry that has one; entries
        without runs, and names of no entry, are left out."""
        store = history_store
        store.save(every("a", 10))
        store.save(every("b", 10))
        lease = self.lead(store)
        clock.advance(10)
        for claim in self.claim(store, lease, clock()).claims:
            if claim.entry.name == "a":
                runs = (sent("a", 5), sent("a", 10))
                store.ack(lease, [Ack("a", claim.state, claim.state, None, runs=runs)])
            else:
                store.ack(lease, [Ack("b", claim.state, claim.state, None)])
        expect(store.last_runs(["a", "b", "missing"]), {"a": sent("a", 10)}, "last_runs")
