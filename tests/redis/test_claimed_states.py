"""The cache of claimed states' bytes (:class:`beatcore_redis.scheduling.ClaimedStates`): an
ack sends the bytes the claim read when it acks that very state, and the cache stays bounded
when claims are never acked."""

from __future__ import annotations

from beatcore import serializer
from beatcore.entry import EntryState
from beatcore.store import Ack
from beatcore.testing.contract import T0
from beatcore_redis.scheduling import ClaimedStates


def test_an_ack_of_the_claimed_state_sends_the_bytes_read_once() -> None:
    claimed = ClaimedStates()
    state = EntryState(next_run_at=T0)
    claimed.remember("a", state, '{"stored": "as read"}')
    ack = Ack("a", state, state.evolve(total_run_count=1), None)
    assert claimed.stored_bytes(ack) == b'{"stored": "as read"}'
    assert claimed.stored_bytes(ack) == serializer.dumps_state(state)  # forgotten after use


def test_another_state_object_is_serialized() -> None:
    claimed = ClaimedStates()
    state = EntryState(next_run_at=T0)
    claimed.remember("a", state, b"raw")
    other = EntryState(next_run_at=T0)
    assert claimed.stored_bytes(Ack("a", other, other, None)) == serializer.dumps_state(other)


def test_claims_never_acked_are_forgotten_past_the_limit() -> None:
    claimed = ClaimedStates(limit=3)
    for name in "abc":
        claimed.make_room(1)
        claimed.remember(name, EntryState(), b"x")
    assert len(claimed) == 3
    claimed.make_room(1)
    assert len(claimed) == 0
