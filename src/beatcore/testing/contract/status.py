"""Contract clauses of status and of a store's lifetime: ``status``, ``close``, the context
manager, and two instances on one backend."""

from __future__ import annotations

from datetime import timedelta

from beatcore.store import Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import T0, ContractBase, every, expect, names


class StatusContract(ContractBase):
    """A snapshot of leader, last tick, counts and in-flight claims."""

    def test_status_reports_leader_tick_counts_and_in_flight(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.status: leader, last tick, entry count, in-flight claims, next due, URL."""
        store.save(every("a", 10))
        store.save(every("b", 20))
        lease = self.lead(store, "host:1:start")
        clock.advance(10)
        self.claim(store, lease, clock())
        status = store.status()
        expect(status.leader and status.leader.holder, "host:1:start", "StoreStatus.leader")
        expect(status.last_tick_at, clock(), "StoreStatus.last_tick_at")
        expect(status.entry_count, 2, "StoreStatus.entry_count")
        expect(names(status.in_flight), ["a"], "StoreStatus.in_flight")
        expect(status.next_due_at, T0 + timedelta(seconds=20), "StoreStatus.next_due_at")
        assert "://" in status.url, f"StoreStatus.url: the store gave {status.url!r}, not a URL"


class LifetimeContract(ContractBase):
    """A store is closed once it is done; other instances on the same data see every write."""

    def test_store_is_a_context_manager_that_closes_it(self, store: Store) -> None:
        """``with store:`` gives the store itself and calls ``close()`` once on the way out."""
        closed: list[bool] = []
        close = store.close

        def counting_close() -> None:
            closed.append(True)
            close()

        store.close = counting_close  # type: ignore[method-assign]
        with store as opened:
            assert opened is store, f"with store as x: x is {opened!r}, not the store"
            opened.save(every("a"))
            expect(closed, [], "close() calls inside the with block")
        expect(closed, [True], "close() calls after the with block")

    def test_close_keeps_the_data_for_other_instances(
        self, store: Store, second_store: Store
    ) -> None:
        """Store.close: releases this instance only; the data stays for the others."""
        store.save(every("a"))
        store.close()
        expect(names(second_store.entries()), ["a"], "entries seen by an instance open still")

    def test_two_instances_see_each_others_writes_and_share_the_lock(
        self, store: Store, second_store: Store, clock: FakeClock
    ) -> None:
        """Two instances on one backend are one schedule: definitions, claims, acks and the
        lock are shared, so a claim made through one is not claimed again through the other."""
        store.save(every("a", 60))
        second_store.save(every("b", 60))
        expect(names(store.entries()), ["a", "b"], "entries through the first instance")
        lease = self.lead(store, "first")
        expect(second_store.lock.acquire("second", self.lock_ttl), None, "acquire by another")
        clock.advance(60)
        claims = second_store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
        expect(sorted(names(claims)), ["a", "b"], "claims through the second instance")
        expect(self.claim(store, lease, clock()).claims, (), "claims again through the first")
        self.ack_all(store, lease, claims, clock())
        expect(second_store.state("b").total_run_count, 1, "run count seen by the second")
