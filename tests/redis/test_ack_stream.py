"""Store.ack_stream of the Redis store on a real redis-server: the ack's parts are sent on
the held connection while the stream is still consumed, each reply is read before the next
part is sent and the last before it returns; a failure with a reply outstanding never leaves
that reply for a later call to read. Counted (commands sent, replies read), never timed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest

import beatcore
from beatcore import Entry, Interval
from beatcore.errors import LockLost
from beatcore.store import Ack, Lease
from beatcore.testing import FakeClock, drain_task_ids, memory_broker_app, recording
from beatcore.testing.contract import T0, every
from beatcore_redis.store import RedisStore, open_store
from tests.redis.counting import RoundTrips, acks_run_once, counted_store, counting_client

K = 250  # three parts of the ack: 100, 100, 50


@pytest.fixture
def streamed(redis_server: Any) -> Iterator[tuple[RedisStore, RoundTrips, FakeClock]]:
    for store, trips in counted_store(redis_server, "stream"):
        yield store, trips, store.handle.clock


def claimed_batch(store: RedisStore, clock: FakeClock, wire: RoundTrips) -> tuple[Lease, list[Ack]]:
    """K entries claimed (both scripts loaded), their acks with one run record each."""
    store.save_many(every(f"s{i:03d}", 60) for i in range(K))
    lease = store.lock.acquire("stream", 30)
    assert lease is not None
    store.ack(lease, [])  # loads the ack script
    clock.advance(60)
    claims = store.claim_due(lease, clock(), limit=K, reclaim_after=300).claims
    assert len(claims) == K
    nxt = clock() + timedelta(seconds=60)
    acks = acks_run_once(claims, nxt)
    wire.reset()
    return lease, acks


def yielding(acks: Sequence[Ack], at: dict[int, Callable[[], None]]) -> Iterator[Ack]:
    """Yield ``acks``, calling ``at[i]`` before the ack at index ``i``."""
    for i, ack in enumerate(acks):
        if i in at:
            at[i]()
        yield ack


def held(store: RedisStore) -> Any:
    return store.handle.calls.scripts.held


def held_id(store: RedisStore) -> int:
    """The server's id of the connection the store holds (a script call checked it out)."""
    conn = held(store).connection
    assert conn is not None, "no connection is held"
    conn.send_command("CLIENT", "ID")
    return int(conn.read_response())


def test_each_part_is_sent_while_the_stream_goes_on_and_every_reply_is_read(
    streamed: tuple[RedisStore, RoundTrips, FakeClock],
) -> None:
    store, wire, clock = streamed
    lease, acks = claimed_batch(store, clock, wire)
    conn = held(store).connection
    seen: dict[int, tuple[int, int]] = {}

    def look(i: int) -> Callable[[], None]:
        return lambda: seen.__setitem__(i, (wire.evalshas(), wire.replies))

    store.ack_stream(lease, yielding(acks, {i: look(i) for i in (150, 220)}), K)
    # at ack 150 the first part was sent and its reply not read yet; at 220 the second was
    # sent and the first one's reply read
    assert seen == {150: (1, 0), 220: (2, 1)}
    assert (wire.evalshas(), wire.replies, len(wire.commands)) == (3, 3, 3)
    assert held(store).connection is conn and not held(store).busy().locked()
    assert store.in_flight() == []
    assert {store.state(a.name).total_run_count for a in acks} == {1}
    assert {len(store.history(a.name)) for a in acks} == {1}


def test_a_connection_lost_with_a_reply_outstanding_sends_that_part_again(
    streamed: tuple[RedisStore, RoundTrips, FakeClock], redis_server: Any
) -> None:
    """The first part waits on the server (CLIENT PAUSE) when its connection is killed: its
    reply never comes, so it is sent again on a fresh connection; each entry is acked once."""
    store, wire, clock = streamed
    lease, acks = claimed_batch(store, clock, wire)
    killed = held_id(store)
    admin = redis_server.client()
    try:

        def pause() -> None:
            admin.client_pause(5000, all=False)  # writes wait: the first part is not run

        def kill() -> None:
            assert admin.client_kill_filter(_id=killed) == 1
            admin.client_unpause()

        store.ack_stream(lease, yielding(acks, {99: pause, 150: kill}), K)
    finally:
        admin.client_unpause()
        admin.close()
    assert wire.evalshas() == 4  # the first part twice
    assert held_id(store) != killed and not held(store).busy().locked()
    assert store.in_flight() == []
    assert {store.state(a.name).total_run_count for a in acks} == {1}
    assert {len(store.history(a.name)) for a in acks} == {1}


def test_a_part_answered_noscript_is_loaded_and_sent_again(
    streamed: tuple[RedisStore, RoundTrips, FakeClock], redis_server: Any
) -> None:
    """SCRIPT FLUSH (a restart, a failover) before a part is sent: its reply is NOSCRIPT, so
    the script is loaded and the part sent again under the retry policy; each entry acked
    once."""
    store, wire, clock = streamed
    lease, acks = claimed_batch(store, clock, wire)
    admin = redis_server.client()
    try:
        store.ack_stream(lease, yielding(acks, {150: admin.script_flush}), K)
    finally:
        admin.close()
    # the second part answered NOSCRIPT, then sent as any script call: NOSCRIPT, SCRIPT LOAD,
    # sent again (the load under the retry policy, as the call)
    assert wire.evalshas() == 5
    assert not held(store).busy().locked()
    assert store.in_flight() == []
    assert {store.state(a.name).total_run_count for a in acks} == {1}
    assert {len(store.history(a.name)) for a in acks} == {1}


def test_a_stream_failing_with_a_reply_outstanding_writes_what_it_yielded(
    streamed: tuple[RedisStore, RoundTrips, FakeClock],
) -> None:
    """The sends fail while the first part's reply is unread and the second part is half
    full: that half is written, both replies are read before the error propagates (their
    messages went out), the connection stays clean and the next call reads its own reply."""
    store, wire, clock = streamed
    lease, acks = claimed_batch(store, clock, wire)

    def fail() -> None:
        raise RuntimeError("the sends failed")

    with pytest.raises(RuntimeError, match="the sends failed"):
        store.ack_stream(lease, yielding(acks, {150: fail}), K)
    assert (wire.evalshas(), wire.replies) == (2, 2)
    assert not held(store).busy().locked()
    result = store.claim_due(lease, clock(), limit=K, reclaim_after=300)
    assert result.claims == () and result.next_due_at is not None
    assert {f.name for f in store.in_flight()} == {a.name for a in acks[150:]}
    for ack in acks:
        assert store.state(ack.name).total_run_count == (1 if ack in acks[:150] else 0)


def test_a_lease_lost_in_the_middle_stops_the_stream_and_leaves_the_connection_clean(
    streamed: tuple[RedisStore, RoundTrips, FakeClock],
) -> None:
    store, wire, clock = streamed
    lease, acks = claimed_batch(store, clock, wire)

    def lose() -> None:
        store.lock.release(lease)  # through the pool: the held connection is the part's
        new = store.lock.acquire("other", 30)
        assert new is not None

    with pytest.raises(LockLost):
        store.ack_stream(lease, yielding(acks, {120: lose}), K)
    # the second part (sent after the loss) is refused: its reply is read once the third
    # part is complete, and the third is never sent
    assert wire.evalshas(store.handle.calls.scripts.sha("ack")) == 2
    assert not held(store).busy().locked()
    flying = {f.name for f in store.in_flight()}
    assert flying >= {a.name for a in acks[100:]}
    with pytest.raises(LockLost):
        store.claim_due(lease, clock(), limit=K, reclaim_after=300)


def test_a_tick_claims_the_next_page_ahead_and_streams_its_ack_in_parts(
    redis_db: Any,
) -> None:
    """A tick of a full page of 1,000: its claim, the next page's claim sent before any of
    the page is sent (read before the ack's first part goes), the ack in 4 parts; every
    reply is read before the tick returns."""
    url, prefix = redis_db.url, f"stream-tick-{uuid.uuid4().hex[:8]}:"
    clock = FakeClock(T0)
    app = memory_broker_app(url, beatcore_key_prefix=prefix)
    manager = beatcore.connect(url, clock=clock, key_prefix=prefix)
    try:
        manager.save_many(
            Entry(name=f"t{i:04d}", task="tests.noop", schedule=Interval(3600)) for i in range(1000)
        )
    finally:
        manager.close()
    client, wire = counting_client(redis_db.host, redis_db.port)
    store = open_store(url, {"client": client, "clock": clock, "key_prefix": prefix})
    with recording() as recorder:
        scheduler = beatcore.Scheduler(app, clock=clock, holder="stream-tick", store=store)
        try:
            scheduler.tick()  # takes the lock
            for name in ("claim", "ack"):  # loaded, as on a server that ran a tick before
                store.handle.calls.scripts.load(name)
            clock.advance(3600)
            wire.reset()
            scheduler.tick()
            assert len(recorder.sent) == 1000
            sha = store.handle.calls.scripts.sha
            assert (wire.evalshas(sha("claim")), wire.evalshas(sha("ack"))) == (2, 4)
            kinds = ["claim" if sha("claim")[:10].encode() in h else "ack" for h in wire.commands]
            assert kinds == ["claim", "claim", "ack", "ack", "ack", "ack"]
            # the first claim waited for; the second read just before the first ack part
            assert wire.read_before == [0, 1, 2, 3, 4, 5]
            assert wire.replies == 6
        finally:
            scheduler.close()
        drain_task_ids(app)
    assert store.in_flight() == []
