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


def test_a_claim_reads_the_definitions_it_read_before_from_its_cache() -> None:
    """The same definition bytes give the Entry decoded then; changed ones the new one."""
    from beatcore import serializer
    from beatcore.store import Lease
    from beatcore_redis.scheduling import _claimed

    def definition(name: str, task: str) -> bytes:
        return b'{"name":"%s","schedule":{"every":60.0,"type":"interval"},"task":"%s","v":1}' % (
            name.encode(),
            task.encode(),
        )

    state = b'{"next_run_at":"2026-12-02T00:00:00+00:00","v":1}'

    def reply(tasks: dict[str, str]) -> list[object]:
        items: list[object] = [1, b""]
        for name, task in tasks.items():
            items += [name.encode(), definition(name, task), state, b"0", b"", False]
        return items

    claimed = ClaimedStates()
    lease = Lease(token=1, holder="h", ttl=30.0)
    first = _claimed(None, claimed, lease, reply({"a": "t.one", "b": "t.one"}))  # type: ignore[arg-type]
    again = _claimed(None, claimed, lease, reply({"a": "t.one", "b": "t.two"}))  # type: ignore[arg-type]
    assert again.claims[0].entry is first.claims[0].entry
    assert again.claims[1].entry.task == "t.two"
    for result, tasks in ((first, ("t.one", "t.one")), (again, ("t.one", "t.two"))):
        for claim, name, task in zip(result.claims, "ab", tasks, strict=True):
            assert claim.entry == serializer.loads_entry(definition(name, task), name)
            assert claim.state == serializer.loads_state(state, name)
