"""Claim and ack of the Redis store: one script call each under the leader's lease.

``claim`` renews the lease, checks the fencing token and moves the due entries to the
in-flight set in one EVALSHA; the kit decodes what it took (:func:`storekit.decode_claims`),
and an unreadable record is taken out of flight and kept. ``ack`` writes the acked states of
the whole batch in one more, with the run records of each entry appended to its history (a
list per entry, trimmed to the history size); entries changed while in flight are merged with
their current state (:func:`storekit.merge_ack`) in one compare-and-set write. ``history``
reads one entry's list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from celery.utils.log import get_logger

from beatcore import serializer, storekit
from beatcore.definition_cache import DefinitionCache
from beatcore.entry import EntryState
from beatcore.errors import CorruptRecord
from beatcore.store import Ack, Claim, ClaimResult, InFlight, Lease, Running
from beatcore_redis import reports
from beatcore_redis.calls import ScriptReply
from beatcore_redis.handle import RedisHandle
from beatcore_redis.lock import lock_lost, ttl_ms
from beatcore_redis.revive import noted_unreadable
from beatcore_redis.writes import MAX_WRITE_ATTEMPTS, Put, gave_up, put, read, write

logger = get_logger("beatcore.redis")

#: Claimed states kept raw for their ack (past this many, the oldest claims' are dropped).
CLAIMED_RAW_LIMIT = 20_000


class ClaimedStates:
    """The stored bytes of each claimed state, so the ack sends the bytes the claim read
    instead of serializing the state again (the ack script compares them).

    :param limit: states kept at most; claims never acked (their leader lost the lease) are
        forgotten when a claim would go past it.
    """

    def __init__(self, limit: int = CLAIMED_RAW_LIMIT) -> None:
        self.limit = limit
        self.definitions = DefinitionCache()  # the store's, which its claims read through
        self._raw: dict[str, tuple[EntryState, bytes]] = {}
        self._running: dict[str, Running] = {}

    def __len__(self) -> int:
        return len(self._raw)

    def make_room(self, count: int) -> None:
        """Called before a claim of ``count`` entries is remembered."""
        if len(self._raw) + count > self.limit:
            self._raw.clear()
            self._running.clear()

    def remember(
        self, name: str, state: EntryState, raw: bytes | str, running: Running | None = None
    ) -> None:
        """Keep ``raw``, the stored bytes a claim decoded into ``state``, and the running
        fact the claim returned (the ack merges the one it is given into it)."""
        self._raw[name] = (state, raw.encode() if isinstance(raw, str) else raw)
        if running is None:
            self._running.pop(name, None)
        else:
            self._running[name] = running

    def remember_all(
        self, raw: dict[str, tuple[EntryState, bytes]], running: dict[str, Running]
    ) -> None:
        """Keep what :meth:`remember` keeps for each claimed entry of ``raw`` (name: state
        and its stored bytes), ``running`` holding the running facts of those with one."""
        self._raw.update(raw)
        if self._running:
            for name in raw.keys() - running.keys():
                self._running.pop(name, None)
        self._running.update(running)

    def claimed_running(self, name: str) -> Running | None:
        """Return (and forget) the running fact the claim of ``name`` returned."""
        return self._running.pop(name, None)

    def stored_bytes(self, ack: Ack) -> bytes | str:
        """Return (and forget) the stored bytes of ``ack.claimed``: those the claim read when
        it is the very state the claim returned, else the state serialized."""
        known = self._raw.pop(ack.name, None)
        if known is not None and known[0] is ack.claimed:
            return known[1]
        return serializer.dumps_state(ack.claimed)


def claim(
    handle: RedisHandle,
    claimed: ClaimedStates,
    lease: Lease,
    now: datetime,
    limit: int,
    reclaim_after: float,
) -> ClaimResult:
    """Renew ``lease`` and claim up to ``limit`` due entries (see :meth:`Store.claim_due`);
    :raises LockLost: ``lease`` is not the current one (nothing was claimed)."""
    keys, args = _claim_call(handle, lease, now, limit, reclaim_after)
    return _claimed(handle, claimed, lease, handle.calls.run_script("claim", "claim", keys, args))


def claim_ahead(
    handle: RedisHandle,
    claimed: ClaimedStates,
    lease: Lease,
    now: datetime,
    limit: int,
    reclaim_after: float,
) -> Callable[[], ClaimResult]:
    """Send the claim :func:`claim` makes without waiting for its reply; return the function
    that reads (and decodes) it (see :meth:`Store.claim_due_ahead`). Redis runs the claim
    while the scheduler sends the current page; the reply is read off the connection by the
    next script call at the latest (the ack's first part), so it never waits behind it."""
    keys, args = _claim_call(handle, lease, now, limit, reclaim_after)
    reply = handle.calls.start_script("claim", "claim", keys, args)
    return lambda: _claimed(handle, claimed, lease, reply.result())


def _claim_call(
    handle: RedisHandle, lease: Lease, now: datetime, limit: int, reclaim_after: float
) -> tuple[list[str], list[Any]]:
    """Return the keys and arguments of the claim script's call."""
    keys = handle.keys
    return (
        [keys.lock, keys.fence, keys.due, keys.inflight, keys.claimed, keys.defs,
         keys.states, keys.meta, keys.running, keys.reports_prefix],
        [lease.token, ttl_ms(lease.ttl), storekit.to_micros(now),
         storekit.to_micros(now - timedelta(seconds=reclaim_after)), limit, lease.holder],
    )  # fmt: skip


def _claimed(handle: RedisHandle, claimed: ClaimedStates, lease: Lease, reply: Any) -> ClaimResult:
    """Decode the claim script's ``reply`` (unreadable records taken out of flight), each
    record as :func:`storekit.read_record` reads it (its definition found in, or kept in,
    ``claimed.definitions``), in one pass that also keeps each claimed state's bytes.

    :raises LockLost: the reply says the lease is stale.
    """
    if int(reply[0]) != 1:
        raise lock_lost(lease, reply)
    claims: list[Claim] = []
    corrupt: list[CorruptRecord] = []
    raw: dict[str, tuple[EntryState, bytes]] = {}
    facts: dict[str, Running] = {}
    find, decoded, claimed_fact = claimed.definitions.find, 0, reports.claimed_fact
    loads_entry, loads_state = serializer.loads_entry, serializer.loads_state
    claimed.make_room((len(reply) - 2) // 6)
    for i in range(2, len(reply), 6):  # a page is 6,000 elements
        name, definition, state_raw = reply[i], reply[i + 1], reply[i + 2]
        if type(name) is bytes:
            name = name.decode()
        running = claimed_fact(name, reply[i + 4], reply[i + 5]) if reply[i + 4] else None
        try:
            known = find(name)
            if known is not None and known[0] == definition:
                entry = known[1]
            else:  # never None: the script returns the entries that have a definition
                entry = loads_entry(definition, name)
                decoded += 1
            if not state_raw:
                raise CorruptRecord(name, storekit.MISSING_STATE)
            state = loads_state(state_raw, name)
        except CorruptRecord as exc:
            corrupt.append(exc)
            continue
        claims.append(storekit.claim_of(entry, state, reply[i + 3] in (b"1", "1"), running))
        if running:
            facts[name] = running
        elif facts:
            facts.pop(name, None)  # a name claimed twice: the later claim's fact
        raw[name] = (state, state_raw if type(state_raw) is bytes else state_raw.encode())
    claimed.remember_all(raw, facts)
    if corrupt:
        quarantine(handle, corrupt)
    elif decoded and len(raw) == len(claims):  # raw's names in step with the rest
        claimed.definitions.keep(raw, reply[3::6], map(attrgetter("entry"), claims), decoded)
    next_due = storekit.from_micros(reply[1]) if reply[1] else None
    return ClaimResult(tuple(claims), tuple(corrupt), next_due)


def quarantine(handle: RedisHandle, errors: Sequence[CorruptRecord]) -> None:
    """Take unreadable claimed records out of flight and note why (they stay stored)."""
    keys = handle.keys

    def build(pipe: Any) -> None:
        for error in errors:
            pipe.hdel(keys.inflight, error.name)
            pipe.zrem(keys.claimed, error.name)
            pipe.hset(keys.corrupt, error.name, noted_unreadable(error.cause, handle.clock()))
        # the next static sync compares every record again, and rewrites this one if static
        pipe.hdel(keys.meta, "static_digest")
        pipe.hincrby(keys.meta, "gen", 1)

    handle.calls.pipeline("record corrupt entries", build)
    for error in errors:
        logger.error("beatcore: %s (left in place under %s)", error, keys.defs)


def ack(
    handle: RedisHandle,
    claimed: ClaimedStates,
    lease: Lease,
    acks: Sequence[Ack],
    history_size: int,
) -> None:
    """Write the acked states, append each ack's runs to its entry's history (keeping the
    newest ``history_size`` records) and write its running fact, merged with the one its
    claim returned (see :meth:`Store.ack`), all in one script call.

    :raises LockLost: ``lease`` is not the current one (nothing was written).
    """
    keys, args = _ack_call(handle, claimed, lease, acks, history_size)
    _acked(handle, lease, acks, handle.calls.run_script("ack", "ack", keys, args))


#: Acks of a stream written by one script call at least (fewer: the stream's last part).
ACK_PART_MIN = 100
#: Parts a stream of acks is cut into at most (each one script call), whatever its count.
ACK_PARTS = 4


def ack_stream(
    handle: RedisHandle,
    claimed: ClaimedStates,
    lease: Lease,
    acks: Iterable[Ack],
    count: int,
    history_size: int,
) -> None:
    """Write the acks ``acks`` yields as :func:`ack` does, in parts of a quarter of
    ``count`` (:data:`ACK_PARTS`; at least :data:`ACK_PART_MIN`), each part's script call
    sent without waiting: its reply is read once the next part is ready (the server runs it
    while the caller sends the next messages), the last one before this returns. So a
    LockLost, a fencing refusal or a failure of any part is raised here, in the same tick.

    :raises LockLost: ``lease`` is not the current one: no part is sent after that.
    """
    size = max(ACK_PART_MIN, -(-count // ACK_PARTS))
    previous: tuple[Sequence[Ack], ScriptReply] | None = None

    def read_previous() -> None:
        nonlocal previous
        if previous is not None:
            sent, reply = previous
            previous = None
            _acked(handle, lease, sent, reply.result())

    parts = _parts(acks, size)
    try:
        while True:
            try:
                part = next(parts, None)
            except Exception:
                # the caller's stream failed: what it yielded is written (_parts yielded
                # the part begun) and the last reply read before the error propagates
                read_previous()
                raise
            if part is None:
                break
            keys, args = _ack_call(handle, claimed, lease, part, history_size)
            read_previous()
            previous = part, handle.calls.start_script("ack", "ack", keys, args)
        read_previous()
    finally:
        if previous is not None:  # a part's reply was left unread by a failure
            previous[1].abandon()


def _parts(acks: Iterable[Ack], size: int) -> Iterator[list[Ack]]:
    """Yield ``acks`` in lists of ``size`` (the last one shorter). When ``acks`` raises,
    the part begun is yielded first, then the error raised."""
    part: list[Ack] = []
    try:
        for item in acks:
            part.append(item)
            if len(part) >= size:
                yield part
                part = []
    except Exception:
        if part:
            yield part
        raise
    if part:
        yield part


#: The ack script's code of when an entry with a running fact is due at once (see
#: ack.lua: an entry's fifth field is its run records count times 4 plus this; 0: no fact).
_DUE_CODES = {"": 1, "due": 2, "check": 3}


def _ack_call(
    handle: RedisHandle,
    claimed: ClaimedStates,
    lease: Lease,
    acks: Sequence[Ack],
    history_size: int,
) -> tuple[list[str], list[Any]]:
    """Return the keys and arguments of the ack script's call for ``acks``."""
    keys = handle.keys
    args: list[Any] = [
        lease.token,
        ttl_ms(lease.ttl),
        lease.holder,
        history_size,
        len(acks),
        storekit.to_micros(handle.now()),
    ]
    records: list[str] = []
    add, append = args.extend, args.append
    kept_runs, dumps_state, score = storekit.kept_runs, serializer.dumps_state, handle.score
    for item in acks:
        runs = kept_runs(item.runs, history_size)
        stored = claimed.claimed_running(item.name)
        add((item.name, claimed.stored_bytes(item), dumps_state(item.state), score(item.due_at)))
        if item.running is None:  # no running fact written (see reports.ack_running)
            append(len(runs) * 4)
        else:
            fact, due = reports.ack_running(stored, item.running)
            add((len(runs) * 4 + _DUE_CODES[due], fact))
        records += runs
    script_keys = [keys.lock, keys.fence, keys.due, keys.inflight, keys.claimed, keys.defs,
                   keys.states, keys.history_prefix, keys.running, keys.reports_prefix]  # fmt: skip
    return script_keys, args + records


def _acked(handle: RedisHandle, lease: Lease, acks: Sequence[Ack], reply: Any) -> None:
    """Act on the ack script's ``reply`` for ``acks``: a stale lease raises LockLost; the
    entries changed in flight are merged with their current state."""
    if int(reply[0]) != 1:
        raise lock_lost(lease, reply)
    changed = {storekit.text(name) for name in reply[1:]}
    if changed:
        _merge_changed(handle, [item for item in acks if item.name in changed])


def _merge_changed(handle: RedisHandle, acks: Sequence[Ack]) -> None:
    """Merge acks of entries changed in flight with their current state (CAS, retried)."""
    names = [item.name for item in acks]
    for _ in range(MAX_WRITE_ATTEMPTS):
        defs, states = read(handle, names)
        writes: list[Put] = []
        unreadable: list[CorruptRecord] = []
        for item, def_raw, state_raw in zip(acks, defs, states, strict=True):
            if def_raw is None:
                continue  # deleted while in flight: stays deleted
            found = storekit.decode_record(item.name, def_raw, state_raw)
            if isinstance(found, CorruptRecord):
                unreadable.append(found)
                continue
            merged = storekit.merge_ack(item, found)
            written = put(found.entry, merged.state, def_raw, state_raw)
            writes.append(written._replace(due_score=handle.score(merged.due_at)))
        if unreadable:
            quarantine(handle, unreadable)
        if not write(handle, "ack merge", writes):
            return
    raise gave_up(handle, "ack", names)


def in_flight(handle: RedisHandle) -> list[InFlight]:
    """Return the claims not acked yet, oldest first (see :meth:`Store.in_flight`)."""
    claimed, inflight = handle.calls.pipeline(
        "list in-flight",
        lambda p: (
            p.zrange(handle.keys.claimed, 0, -1, withscores=True),
            p.hgetall(handle.keys.inflight),
        ),
    )
    if not claimed:
        return []
    names = [storekit.text(member) for member, _ in claimed]
    states = handle.calls.call(
        "list in-flight", lambda: handle.client.hmget(handle.keys.states, names)
    )
    found = []
    for (member, score), name, state_raw in zip(claimed, names, states, strict=True):
        token_text = storekit.text(inflight.get(member, b"0|")).partition("|")[0]
        try:
            next_run_at = serializer.loads_state(state_raw, name).next_run_at
        except CorruptRecord:
            next_run_at = None
        found.append(
            InFlight(
                name=name,
                token=int(token_text or 0),
                claimed_at=storekit.from_micros(score),
                next_run_at=next_run_at,
            )
        )
    return sorted(found, key=lambda f: (f.claimed_at, f.name))
