"""Contract clauses of scheduling: ``claim_due``, ``ack`` and ``in_flight``, including their
atomicity under concurrent claimers (see :class:`beatcore.store.Store` and
:class:`beatcore.store.Ack`)."""

from __future__ import annotations

import sys
import threading
from datetime import timedelta

import attrs

from beatcore.entry import Entry
from beatcore.schedules import Clocked
from beatcore.store import Ack, Lease, Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import T0, ContractBase, every, expect, names

#: Rounds of :meth:`ClaimAckContract.test_concurrent_claimers_never_claim_the_same_entry`.
CONCURRENT_ROUNDS = 3


def claim_concurrently(
    store: Store, lease: Lease, clock: FakeClock, threads: int = 6, calls: int = 10
) -> tuple[list[str], list[BaseException]]:
    """Claim from ``threads`` threads at once, ``calls`` claims of 4 each, while the
    interpreter switches threads every microsecond; return the names claimed and the errors."""
    claimed: list[str] = []
    errors: list[BaseException] = []
    mutex = threading.Lock()
    start = threading.Barrier(threads)

    def claimer() -> None:
        try:
            start.wait()
            for _ in range(calls):
                got = store.claim_due(lease, clock(), limit=4, reclaim_after=300).claims
                with mutex:
                    claimed.extend(names(got))
        except BaseException as exc:
            errors.append(exc)

    running = [threading.Thread(target=claimer) for _ in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    return claimed, errors


class ClaimAckContract(ContractBase):
    """Due entries are claimed once, in due order, and put back by their ack."""

    def test_claim_returns_due_entries_in_due_order_up_to_limit(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.claim_due: at most ``limit`` due entries, earliest due first, and
        ``next_due_at`` is the earliest due instant among those not claimed."""
        for name, seconds in (("late", 30), ("early", 10), ("middle", 20), ("future", 999)):
            store.save(every(name, seconds))
        lease = self.lead(store)
        clock.advance(40)
        first = self.claim(store, lease, clock(), limit=2)
        expect(names(first.claims), ["early", "middle"], "claims with limit=2")
        expect(first.next_due_at, T0 + timedelta(seconds=30), "next_due_at after limit=2")
        second = self.claim(store, lease, clock())
        expect(names(second.claims), ["late"], "claims of the next call")
        expect(second.next_due_at, T0 + timedelta(seconds=999), "next_due_at of the next call")

    def test_idle_claim_returns_nothing_and_next_due(self, store: Store, clock: FakeClock) -> None:
        """Store.claim_due with nothing due: no claims, and when the next entry is due."""
        store.save(every("a", 60))
        lease = self.lead(store)
        result = self.claim(store, lease, clock())
        expect(result.claims, (), "claims when nothing is due")
        expect(result.next_due_at, T0 + timedelta(seconds=60), "next_due_at when idle")

    def test_claimed_entry_is_not_claimed_again_before_ack(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.claim_due: a claimed entry leaves the due index and is in flight."""
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(60)
        expect(len(self.claim(store, lease, clock()).claims), 1, "claims of one due entry")
        expect(self.claim(store, lease, clock()).claims, (), "claims again before the ack")
        expect(names(store.in_flight()), ["a"], "Store.in_flight after the claim")

    def test_ack_writes_state_and_reschedules(self, store: Store, clock: FakeClock) -> None:
        """Store.ack: the acked state is written and the entry is due again at ``due_at``."""
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(60)
        self.ack_all(store, lease, self.claim(store, lease, clock()).claims, clock(), step=60)
        state = store.state("a")
        expect(state.total_run_count, 1, "total_run_count after the ack")
        expect(state.last_run_at, T0 + timedelta(seconds=60), "last_run_at after the ack")
        expect(state.next_run_at, clock() + timedelta(seconds=60), "next_run_at after the ack")
        expect(store.in_flight(), [], "Store.in_flight after the ack")
        clock.advance(60)
        expect(names(self.claim(store, lease, clock()).claims), ["a"], "claims a step later")

    def test_ack_due_at_delays_a_retry(self, store: Store, clock: FakeClock) -> None:
        """Ack.due_at: a failed send is acked with its state unchanged and a later due_at
        (the retry delay); the entry is not due before it."""
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(60)
        (claim,) = self.claim(store, lease, clock()).claims
        failed = claim.state.evolve(last_error="send failed: broker down")
        retry_at = clock() + timedelta(seconds=5)
        store.ack(lease, [Ack("a", claimed=claim.state, state=failed, due_at=retry_at)])
        expect(store.state("a"), failed, "state after acking a failed send")
        clock.advance(4)
        expect(self.claim(store, lease, clock()).claims, (), "claims before the retry delay")
        clock.advance(1)
        again = self.claim(store, lease, clock()).claims
        expect(
            [(c.entry.name, c.state.next_run_at) for c in again],
            [("a", claim.state.next_run_at)],
            "claims at the retry instant",
        )

    def test_unacked_claim_is_recovered_after_reclaim_after(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.claim_due: a claim never acked is claimed again after ``reclaim_after``
        seconds, marked recovered, with its unchanged state."""
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(60)
        first = self.claim(store, lease, clock())
        clock.advance(10)
        expect(self.claim(store, lease, clock()).claims, (), "claims before reclaim_after")
        clock.advance(25)
        again = self.claim(store, lease, clock())
        expect(
            [(c.entry.name, c.recovered) for c in again.claims],
            [("a", True)],
            "claims after reclaim_after",
        )
        expect(again.claims[0].state, first.claims[0].state, "state of the recovered claim")

    def test_ack_keeps_changes_made_while_in_flight(self, store: Store, clock: FakeClock) -> None:
        """Ack merge: a save that rescheduled, a delete, a disable and a new trigger made while
        the entry was in flight all survive its ack."""
        for name in ("resaved", "deleted", "disabled", "triggered"):
            store.save(every(name, 60))
        lease = self.lead(store)
        clock.advance(60)
        claims = self.claim(store, lease, clock()).claims
        expect(len(claims), 4, "claims of four due entries")
        store.save(every("resaved", 600))
        store.delete("deleted")
        store.set_enabled("disabled", False)
        store.trigger("triggered", clock() + timedelta(seconds=1))
        self.ack_all(store, lease, claims, clock(), step=60)

        resaved = store.state("resaved")
        expect(resaved.next_run_at, clock() + timedelta(seconds=600), "rescheduled next_run_at")
        expect(resaved.total_run_count, 1, "run count of the rescheduled entry")
        expect(names(store.entries()), ["disabled", "resaved", "triggered"], "entries after acks")
        expect(
            store.state("triggered").triggered_at,
            clock() + timedelta(seconds=1),
            "triggered_at set while in flight",
        )
        clock.advance(61)
        due = sorted(names(self.claim(store, lease, clock()).claims))
        expect(due, ["triggered"], "claims after the merges")

    def test_concurrent_claimers_never_claim_the_same_entry(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.claim_due is atomic: threads claiming at once take each entry exactly once.

        The interpreter switches threads every microsecond meanwhile, so a store that reads
        the due index and marks claims in separate steps without a lock fails this.
        """
        lease = self.lead(store)
        for round_ in range(CONCURRENT_ROUNDS):
            wanted = [f"r{round_}-e{i:02d}" for i in range(60)]
            for i, name in enumerate(wanted):
                store.save(every(name, 10 + i % 7))
            clock.advance(30)
            claimed, errors = claim_concurrently(store, lease, clock)
            expect(errors, [], "exceptions raised by concurrent Store.claim_due calls")
            doubles = sorted({name for name in claimed if claimed.count(name) > 1})
            expect(doubles, [], "entries claimed more than once by concurrent claimers")
            expect(sorted(claimed), wanted, "entries claimed by concurrent claimers")
            for name in wanted:
                store.delete(name)

    def test_clocked_entry_saved_past_its_time_is_due_at_once_and_once_only(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.save: a one-off saved after its instant is due at that instant (the next
        tick), and once it ran, saving it again or re-enabling it does not run it again."""
        at = T0 - timedelta(hours=1)
        past = Entry(name="past", task="t", schedule=Clocked(at))
        expect(store.save(past).next_run_at, at, "next_run_at of a one-off saved past its time")
        lease = self.lead(store)
        claims = self.claim(store, lease, clock()).claims
        expect(names(claims), ["past"], "claims of the past one-off")
        ran = claims[0].state.evolve(next_run_at=None, last_run_at=at, total_run_count=1)
        store.ack(lease, [Ack("past", claims[0].state, ran, None)])
        clock.advance(3600)
        expect(self.claim(store, lease, clock()).claims, (), "claims of it after it ran")
        store.save(past)
        store.save(attrs.evolve(past, enabled=False))
        expect(store.save(past).next_run_at, None, "next_run_at of it re-enabled after it ran")
