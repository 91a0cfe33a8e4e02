"""Contract clauses of the lock and fencing (see :class:`beatcore.store.Lock`)."""

from __future__ import annotations

import time

import pytest

from beatcore.errors import LockLost
from beatcore.store import Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import ContractBase, every, expect


class LockContract(ContractBase):
    """One valid lease at a time, each with a larger token; a stale lease is fenced."""

    def test_lock_is_exclusive_and_tokens_increase(self, store: Store, clock: FakeClock) -> None:
        """Lock.acquire: refused while another lease is valid; each lease has a larger token;
        Lock.current names the holder."""
        first = self.lead(store, "a")
        expect(store.lock.acquire("b", self.lock_ttl), None, "acquire while 'a' holds it")
        info = store.lock.current()
        expect(
            None if info is None else (info.holder, info.token),
            ("a", first.token),
            "Lock.current while 'a' holds the lock",
        )
        store.lock.release(first)
        second = self.lead(store, "b")
        assert second.token > first.token, (
            f"Lock.acquire after a release: the store gave token {second.token}; the contract "
            f"wants a token larger than {first.token}"
        )

    def test_lock_lapses_after_ttl_and_stale_holder_is_fenced(
        self, store: Store, clock: FakeClock, lock_follows_clock: bool
    ) -> None:
        """Lease.ttl and fencing: a lease lapses after its ttl, a new holder gets a larger
        token, and every fenced call with the old one raises LockLost and writes nothing."""
        ttl = self.ttl(lock_follows_clock)
        store.save(every("a", 60))
        old = store.lock.acquire("old", ttl)
        assert old is not None, "Lock.acquire of a free lock: got None"
        self.expire_lock(clock, ttl, lock_follows_clock)
        # on real time the new holder's lease must outlive the rest of the test, however
        # slowly it runs: only the old one is meant to lapse
        new = store.lock.acquire("new", ttl if lock_follows_clock else self.lock_ttl)
        assert new is not None and new.token > old.token, (
            f"Lock.acquire after the ttl lapsed: the store gave {new!r}; the contract wants a "
            f"lease with a token larger than {old.token}"
        )
        clock.advance(60)
        with pytest.raises(LockLost):
            store.claim_due(old, clock(), limit=10, reclaim_after=30)
        with pytest.raises(LockLost):
            store.lock.renew(old)
        claims = store.claim_due(new, clock(), limit=10, reclaim_after=30).claims
        with pytest.raises(LockLost):
            self.ack_all(store, old, claims, clock())
        expect(store.state("a").total_run_count, 0, "run count after a fenced ack")
        self.ack_all(store, new, claims, clock())
        expect(store.state("a").total_run_count, 1, "run count after the leader's ack")

    def test_renew_keeps_the_lease_alive(
        self, store: Store, clock: FakeClock, lock_follows_clock: bool
    ) -> None:
        """Lock.renew: extends the lease by its ttl (same token); nobody else acquires it."""
        # On a real-time lock each renew must land within 0.4 ttl of its sleep's end: with
        # real_ttl's 0.3 s that is 120 ms, which a loaded machine overshot now and then.
        ttl = self.ttl(lock_follows_clock) if lock_follows_clock else max(self.real_ttl, 1.0)
        lease = store.lock.acquire("a", ttl)
        assert lease is not None, "Lock.acquire of a free lock: got None"
        for _ in range(3):
            if lock_follows_clock:
                clock.advance(ttl * 0.6)
            else:
                time.sleep(ttl * 0.6)
            expect(store.lock.renew(lease).token, lease.token, "token of the renewed lease")
            expect(store.lock.acquire("b", ttl), None, "acquire by another while renewed")

    def test_released_lease_is_stale(self, store: Store, clock: FakeClock) -> None:
        """Lock.release: nobody holds the lock after it, and the released lease is fenced."""
        lease = self.lead(store)
        store.lock.release(lease)
        expect(store.lock.current(), None, "Lock.current after release")
        with pytest.raises(LockLost):
            store.claim_due(lease, clock(), limit=10, reclaim_after=30)
