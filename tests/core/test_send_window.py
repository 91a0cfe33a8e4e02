"""beatcore.send_window: how long a leader may go on sending the batch it claimed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from beatcore import connect
from beatcore.errors import StoreUnavailable
from beatcore.send_window import SendWindow
from beatcore.store import Lease, Lock, LockInfo, Store
from beatcore.testing import FakeClock
from beatcore.timeutil import UTC

from .fake_broker import Elapsed

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TTL = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(clock: FakeClock) -> Iterator[Store]:
    with connect(f"memory://window-{uuid.uuid4()}", clock=clock) as store:
        yield store


@pytest.fixture
def lease(store: Store) -> Lease:
    lease = store.lock.acquire("A", TTL)
    assert lease is not None
    return lease


def test_a_window_closes_one_ttl_after_the_claim_and_stays_closed(
    store: Store, lease: Lease
) -> None:
    elapsed = Elapsed()
    elapsed.seconds = 100.0
    window = SendWindow(store.lock, lease, elapsed, started=100.0)
    assert window.ttl == TTL
    elapsed.seconds = 114.9
    assert window.may_send()
    elapsed.seconds = 130.0
    assert not window.may_send()
    elapsed.seconds = 131.0
    assert not window.may_send()


def test_past_half_the_lease_it_renews_and_moves_the_window(
    store: Store, lease: Lease, clock: FakeClock
) -> None:
    elapsed = Elapsed()
    window = SendWindow(store.lock, lease, elapsed, started=0.0)
    elapsed.seconds = 16.0
    clock.advance(16)
    assert window.may_send()  # renews: the window now closes at 16 + 30
    elapsed.seconds = 45.0
    clock.advance(29)
    assert window.may_send()  # renews again (past 16 + 15)
    clock.advance(16)  # the store saw the renewals: a rival cannot take the lock yet
    assert store.lock.acquire("B", TTL) is None


def test_a_renewal_that_finds_another_leader_closes_the_window(
    store: Store, lease: Lease, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    elapsed = Elapsed()
    window = SendWindow(store.lock, lease, elapsed, started=0.0)
    clock.advance(TTL + 1)  # on the store's clock the lease lapsed ...
    assert store.lock.acquire("B", TTL) is not None  # ... and B leads
    elapsed.seconds = 20.0  # while this process saw only 20 s pass
    assert not window.may_send()
    elapsed.seconds = 21.0
    assert not window.may_send()
    assert any("renewing the lease mid-batch failed" in r.getMessage() for r in caplog.records)


def test_a_renewal_the_store_cannot_answer_closes_the_window(store: Store, lease: Lease) -> None:
    class Unreachable(Lock):
        """The store's lock, past its own retries (a real outage cannot be made on cue)."""

        def acquire(self, holder: str, ttl: float) -> Lease | None:
            raise AssertionError("not called by a window")

        def renew(self, lease: Lease) -> Lease:
            raise StoreUnavailable("memory:// is unreachable after 6 attempts")

        def release(self, lease: Lease) -> None:
            raise AssertionError("not called by a window")

        def current(self) -> LockInfo | None:
            raise AssertionError("not called by a window")

    elapsed = Elapsed()
    window = SendWindow(Unreachable(), lease, elapsed, started=0.0)
    elapsed.seconds = 14.0
    assert window.may_send()
    elapsed.seconds = 15.0
    assert not window.may_send()
