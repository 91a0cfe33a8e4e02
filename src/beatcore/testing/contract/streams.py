"""Contract clauses of :meth:`Store.ack_stream` (acks yielded while the batch is still sent)
and :meth:`Store.claim_due_ahead` (the next page's claim asked for before this one is sent)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from beatcore.errors import LockLost
from beatcore.store import Ack, Claim, Lease, Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import ContractBase, every, expect, names

#: Entries of a streamed batch: more than one part for a store that writes in parts.
STREAMED = 250


def _yield(acks: Sequence[Ack], after: int, then: Callable[[], None]) -> Iterator[Ack]:
    """Yield ``acks``, calling ``then`` once the first ``after`` were taken."""
    for i, ack in enumerate(acks):
        if i == after:
            then()
        yield ack


class AckStreamContract(ContractBase):
    """Store.ack_stream records what it is given as it comes; on any failure each entry is
    either acked or still in flight, never half written. Store.claim_due_ahead claims as
    claim_due does, its errors raised when its result is asked for."""

    def _claimed_batch(self, store: Store, clock: FakeClock) -> tuple[Lease, tuple[Claim, ...]]:
        """STREAMED entries saved, due and claimed by a new lease."""
        store.save_many(every(f"s{i:03d}", 60) for i in range(STREAMED))
        lease = self.lead(store)
        clock.advance(60)
        claims = self.claim(store, lease, clock(), limit=STREAMED).claims
        expect(len(claims), STREAMED, "claims of the streamed batch")
        return lease, claims

    def _acked_or_in_flight(self, store: Store, claims: tuple[Claim, ...], clause: str) -> set[str]:
        """Check each claimed entry is acked (run once) or in flight (not run), those from
        the 151st on in flight; return the names in flight."""
        flying = set(names(store.in_flight()))
        expect(flying >= set(names(claims[150:])), True, clause)
        for claim in claims:
            runs = store.state(claim.entry.name).total_run_count
            expect(runs, 0 if claim.entry.name in flying else 1, f"runs of {claim.entry.name}")
        return flying

    def test_ack_stream_writes_every_ack_it_yields(self, store: Store, clock: FakeClock) -> None:
        """Store.ack_stream: every ack of the stream is written, as Store.ack writes them."""
        lease, claims = self._claimed_batch(store, clock)
        store.ack_stream(lease, iter(self.acks_of(claims, clock())), len(claims))
        expect(store.in_flight(), [], "Store.in_flight after Store.ack_stream")
        runs = {store.state(name).total_run_count for name in names(claims)}
        expect(runs, {1}, "run counts after Store.ack_stream")
        clock.advance(60)
        again = self.claim(store, lease, clock(), limit=STREAMED).claims
        expect(len(again), STREAMED, "claims a step after Store.ack_stream")

    def test_a_failing_stream_leaves_each_entry_acked_or_in_flight(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.ack_stream: when the stream raises, the acks it yielded are written and
        then the error propagates (their messages went out: not sent again after
        reclaim_after); those never yielded are in flight with their claimed state; the
        store goes on working (the next ack of them is written)."""
        lease, claims = self._claimed_batch(store, clock)
        acks = self.acks_of(claims, clock())

        def fail() -> None:
            raise RuntimeError("the sends failed")

        with pytest.raises(RuntimeError, match="the sends failed"):
            store.ack_stream(lease, _yield(acks, 150, fail), len(acks))
        flying = self._acked_or_in_flight(store, claims, "the never-yielded acks in flight")
        expect(flying & set(names(claims[:150])), set(), "yielded acks left in flight")
        left = tuple(c for c in claims if c.entry.name in flying)
        self.ack_all(store, lease, left, clock())
        expect(store.in_flight(), [], "Store.in_flight after acking the rest")

    def test_a_stream_that_loses_the_lease_raises_lock_lost(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.ack_stream: a lease lost while the stream is consumed raises LockLost; the
        acks yielded after it are not written (those before may be: under the lease)."""
        lease, claims = self._claimed_batch(store, clock)
        acks = self.acks_of(claims, clock())

        def lose() -> None:
            store.lock.release(lease)
            self.lead(store, "tests:2")

        with pytest.raises(LockLost):
            store.ack_stream(lease, _yield(acks, 150, lose), len(acks))
        self._acked_or_in_flight(store, claims, "acks after the loss not written")

    def test_claim_due_ahead_claims_as_claim_due(self, store: Store, clock: FakeClock) -> None:
        """Store.claim_due_ahead: its function returns what claim_due would have (the due
        entries, in due order, up to the limit, then in flight); asked for a stale lease,
        LockLost is raised by the call of the function, not before."""
        for name, seconds in (("late", 30), ("early", 10), ("middle", 20)):
            store.save(every(name, seconds))
        lease = self.lead(store)
        clock.advance(40)
        ahead = store.claim_due_ahead(lease, clock(), limit=2, reclaim_after=30)
        result = ahead()
        expect(names(result.claims), ["early", "middle"], "claims ahead with limit=2")
        expect(sorted(names(store.in_flight())), ["early", "middle"], "in flight after it")
        store.lock.release(lease)
        stale = store.claim_due_ahead(lease, clock(), limit=2, reclaim_after=30)
        with pytest.raises(LockLost):
            stale()
