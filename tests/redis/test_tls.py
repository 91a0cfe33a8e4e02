"""The Redis store over TLS (``rediss://``), verifying the server against a test CA."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

import pytest

import beatcore
from beatcore import Entry, Interval, Store
from beatcore.errors import StoreError, StoreUnavailable
from beatcore.store import Ack
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0
from tests.support.certificates import make_certificates
from tests.support.redis_servers import TlsRedisServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tls_store(redis_tls: TlsRedisServer) -> Iterator[tuple[Store, FakeClock]]:
    clock = FakeClock(T0)
    store = beatcore.connect(
        redis_tls.url, clock=clock, key_prefix=f"it-tls-{uuid.uuid4().hex[:8]}:"
    )
    yield store, clock
    store.close()


def test_save_claim_and_ack_over_tls(tls_store: tuple[Store, FakeClock]) -> None:
    store, clock = tls_store
    store.save(Entry(name="a", task="tests.noop", schedule=Interval(10)))
    store.save(Entry(name="b", task="tests.noop", schedule=Interval(20)))
    lease = store.lock.acquire("tls-it", 30)
    assert lease is not None
    clock.advance(10)
    result = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    assert [c.entry.name for c in result.claims] == ["a"]
    claim = result.claims[0]
    done = claim.state.evolve(
        next_run_at=clock() + timedelta(seconds=10),
        last_run_at=claim.state.next_run_at,
        total_run_count=1,
    )
    store.ack(lease, [Ack("a", claim.state, done, done.next_run_at)])
    assert store.state("a").total_run_count == 1
    assert store.in_flight() == []
    assert [e.name for e in store.entries()] == ["a", "b"]
    assert store.url.startswith("rediss://")


def test_an_untrusted_server_certificate_is_refused(
    redis_tls: TlsRedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With a CA that did not sign the server's certificate the store refuses to talk."""
    other = make_certificates(tmp_path_factory.mktemp("other-ca"))
    url = (
        f"rediss://{redis_tls.host}:{redis_tls.port}/0"
        f"?ssl_ca_certs={quote(str(other.ca), safe='/')}&ssl_cert_reqs=required"
    )
    store = beatcore.connect(url, key_prefix=f"it-tls-{uuid.uuid4().hex[:8]}:")
    try:
        # A certificate problem is permanent: one clear error naming the settings, no retries.
        with pytest.raises(StoreError, match=r"(?s)certificate.*ssl_ca_certs") as info:
            store.entries()
        assert not isinstance(info.value, StoreUnavailable)
    finally:
        store.close()
