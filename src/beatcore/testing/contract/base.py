"""What every part of the contract suite shares: the fixtures a store provides, the flags of
what it may lack, and helpers that drive it and say what it did against what is wanted."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.store import Ack, Claim, ClaimResult, Lease, Store
from beatcore.testing.clock import FakeClock
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PlantCorrupt = Callable[[str, datetime], None]
OpenStore = Callable[[], Store]


def every(name: str, seconds: float = 60, **fields: object) -> Entry:
    """An interval entry for the tests."""
    return Entry(name=name, task="tests.add", schedule=Interval(seconds), **fields)  # type: ignore[arg-type]


def expect(actual: Any, wanted: Any, clause: str) -> None:
    """Fail unless ``actual == wanted``, saying what the store did and what the contract wants."""
    assert actual == wanted, f"{clause}: the store gave {actual!r}; the contract wants {wanted!r}"


def names(items: Any) -> list[str]:
    """The names of entries, claims, errors or in-flight records, in the order given."""
    found = []
    for item in items:
        entry = getattr(item, "entry", None)
        found.append(entry.name if entry is not None else item.name)
    return found


class ClockFixture:
    """The ``clock`` fixture of the suites: a :class:`FakeClock` at 2026-01-05 12:00 UTC."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        """The clock given to the store; starts at 2026-01-05 12:00 UTC."""
        return FakeClock(T0)


class ContractBase(ClockFixture):
    """Fixtures and helpers of :class:`~beatcore.testing.StoreContract`.

    A store overrides ``store`` and ``plant_corrupt_record``; optionally ``open_second_store``
    (to run the two-instance cases) and the capability flags below.
    """

    #: False when the store's lock lapses on real time (e.g. Redis PX), not on ``clock``.
    #: Read by the ``lock_follows_clock`` fixture; a subclass may set either.
    lock_expiry_follows_clock: bool = True
    #: Lease TTL used by the tests (short when expiry follows real time).
    lock_ttl: float = 30.0
    #: Seconds to wait for a real-time lock expiry (only when not following the clock).
    real_ttl: float = 0.3

    @pytest.fixture
    def store(self, clock: FakeClock) -> Store:
        """An empty store using ``clock``: override this in your subclass."""
        raise NotImplementedError("override the 'store' fixture to run the store contract")

    @pytest.fixture
    def plant_corrupt_record(self, store: Store) -> PlantCorrupt:
        """A function writing an unreadable, due record ``name``: override it."""
        raise NotImplementedError("override 'plant_corrupt_record' to run the store contract")

    @pytest.fixture
    def open_second_store(self, store: Store, clock: FakeClock) -> OpenStore | None:
        """A function opening another instance of the store on the same data (another
        connection, client or process handle), or None: override it to run the two-instance
        cases (the suite closes what it opens)."""
        return None

    @pytest.fixture
    def lock_follows_clock(self) -> bool:
        """Capability: True when the lock's expiry follows ``clock`` (exact, sleep-free lock
        tests); False when it lapses on real time (the tests then sleep ``real_ttl``)."""
        return self.lock_expiry_follows_clock

    @pytest.fixture
    def second_store(self, open_second_store: OpenStore | None) -> Any:
        """Another instance on the same data, closed after the test (skips without one)."""
        if open_second_store is None:
            pytest.skip("the store gives no 'open_second_store' fixture (two-instance cases)")
        other = open_second_store()
        yield other
        other.close()

    # -- helpers -------------------------------------------------------------------------

    def lead(self, store: Store, holder: str = "tests:1") -> Lease:
        lease = store.lock.acquire(holder, self.lock_ttl)
        assert lease is not None, f"Lock.acquire of a free lock by {holder!r}: got None"
        return lease

    def claim(self, store: Store, lease: Lease, now: datetime, limit: int = 10) -> ClaimResult:
        return store.claim_due(lease, now, limit=limit, reclaim_after=30)

    def ttl(self, follows_clock: bool) -> float:
        return self.lock_ttl if follows_clock else self.real_ttl

    def expire_lock(self, clock: FakeClock, ttl: float, follows_clock: bool | None = None) -> None:
        if follows_clock is None:
            follows_clock = self.lock_expiry_follows_clock
        if follows_clock:
            clock.advance(ttl + 1)
        else:
            time.sleep(ttl + 0.3)

    def ack_all(
        self, store: Store, lease: Lease, claims: tuple[Claim, ...], now: datetime, step: float = 60
    ) -> None:
        store.ack(lease, self.acks_of(claims, now, step))

    def acks_of(self, claims: tuple[Claim, ...], now: datetime, step: float = 60) -> list[Ack]:
        """The acks of ``claims`` sent at ``now``: each run once, next due ``step`` later."""
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
        return acks
