"""The Redis store: a schedule in a handful of keys under one hash tag (see :mod:`.keys`).

Scheduling goes through server-side scripts (:mod:`.scripts`): ``claim`` renews the lease,
checks the fencing token and moves due entries to the in-flight set in one EVALSHA; ``ack``
writes the acked states of a whole batch in one more. Management writes (save, trigger,
delete, the static sync) read first and then compare-and-set in one ``write`` script, so a
concurrent change is never overwritten: the writer reads again and retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from celery.utils.log import get_logger

from beatcore import serializer, timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import (
    ConfigurationError,
    CorruptRecord,
    EntryNotFound,
    StoreError,
)
from beatcore.store import (
    Ack,
    Claim,
    ClaimResult,
    InFlight,
    Lease,
    Store,
    StoreStatus,
    SyncReport,
)
from beatcore.timeutil import UTC, Clock, utc_now
from beatcore.values import is_integer, is_number
from beatcore_redis.calls import RedisCalls
from beatcore_redis.connection import RetryingCaller, build_client
from beatcore_redis.keys import SCHEMA_VERSION, KeyLayout
from beatcore_redis.lock import RedisLock, lock_lost, ttl_ms
from beatcore_redis.records import load_entry, load_pair, load_state
from beatcore_redis.urls import parse_url

logger = get_logger("beatcore.redis")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: How often a compare-and-set write reads again after a concurrent change before giving up.
MAX_WRITE_ATTEMPTS = 50
#: Claimed states kept raw for their ack (past this many, the oldest claims' are dropped).
CLAIMED_RAW_LIMIT = 20_000
#: Entries per call of the write script; a larger write goes as several calls in one pipeline.
WRITE_CHUNK = 1000

Raw = bytes | None
Op = list[Any]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class RedisStore(Store):
    """A :class:`~beatcore.store.Store` on one Redis database, Sentinel master or Cluster.

    :param client: a redis-py client (``Redis``, a Sentinel master, ``RedisCluster``) or a
        compatible one (fakeredis in tests).
    :param url: the URL it was opened with, password masked.
    :param key_prefix: ``beatcore_key_prefix``; every key lives under it, in one hash tag.
    :param clock: the clock for due times and claim times (the lock expires on Redis time).
    :param default_timezone: zone of calendar schedules whose entry sets no ``tz``.
    :param retry: the retry policy (default: 6 attempts, backoff 0.1 s doubling up to 2 s).
    :param startup_checks: run :meth:`check` at the first static sync (scheduler startup).
    :param wait_replicas, wait_timeout: see :class:`~beatcore_redis.calls.RedisCalls`
        (``open_store`` makes it 1 for Sentinel URLs, 0 otherwise).
    """

    def __init__(
        self,
        client: Any,
        *,
        url: str,
        key_prefix: str = "beatcore:",
        clock: Clock = utc_now,
        default_timezone: str | tzinfo | None = None,
        retry: RetryingCaller | None = None,
        startup_checks: bool = True,
        wait_replicas: int = 0,
        wait_timeout: float = 0.5,
    ) -> None:
        self.client = client
        self.keys = KeyLayout(key_prefix)
        self.keys.base  # noqa: B018 - validates the prefix now, not at the first call
        self._url = url
        self._clock = clock
        self._tz = default_timezone
        retry = retry or RetryingCaller(url)
        retry.diagnose_wrongtype = self._describe_wrong_types
        self.calls = RedisCalls(
            client, retry, wait_replicas=wait_replicas, wait_timeout=wait_timeout
        )
        self._lock = RedisLock(self)
        self._startup_checks = startup_checks
        self._checked = False
        # name -> (claimed state, its stored bytes): the ack compares the bytes the claim
        # read instead of serializing the state again
        self._claimed_raw: dict[str, tuple[EntryState, bytes]] = {}

    def _describe_wrong_types(self) -> str:
        from beatcore_redis.checks import describe_wrong_types

        return describe_wrong_types(self)

    # -- plumbing shared with the lock and the checks --------------------------------------

    @property
    def url(self) -> str:
        """The URL with its password masked."""
        return self._url

    @property
    def lock(self) -> RedisLock:
        """The fenced leadership lock."""
        return self._lock

    def now(self) -> datetime:
        """The store clock's current instant."""
        return self._clock()

    @staticmethod
    def micros(when: datetime) -> int:
        """Return ``when`` as integer epoch microseconds (exact as a Redis score)."""
        return (when - _EPOCH) // _MICROSECOND

    @staticmethod
    def from_micros(value: bytes | str | float) -> datetime:
        """Return the instant of an epoch-microseconds score or field."""
        text = _text(value) if isinstance(value, (bytes, str)) else repr(value)
        try:
            micros = int(text)
        except ValueError:
            micros = round(float(text))
        return _EPOCH + timedelta(microseconds=micros)

    # -- reads -----------------------------------------------------------------------------

    def _read(self, names: Sequence[str]) -> tuple[list[Raw], list[Raw]]:
        """Return the raw definitions and states of ``names`` (one round trip)."""
        if not names:
            return [], []
        defs, states = self.calls.pipeline(
            "read entries",
            lambda p: (
                p.hmget(self.keys.defs, list(names)),
                p.hmget(self.keys.states, list(names)),
            ),
        )
        return list(defs), list(states)

    def _parse(self, name: str, def_raw: Raw, state_raw: Raw) -> tuple[Entry, EntryState]:
        return load_pair(name, def_raw, state_raw)

    def _score(self, when: datetime | None) -> str:
        return "" if when is None else str(self.micros(when))

    def _put(
        self,
        entry: Entry,
        state: EntryState,
        def_raw: Raw,
        state_raw: Raw,
        new_def: bytes | str | None = None,
    ) -> Op:
        return [
            "put",
            entry.name,
            def_raw or b"",
            state_raw or b"",
            serializer.dumps_entry(entry) if new_def is None else new_def,
            serializer.dumps_state(state),
            self._score(timing.state_due_at(entry, state)),
            "1" if entry.static else "0",
        ]

    def _write(self, what: str, ops: Sequence[Op]) -> list[str]:
        """Compare-and-set ``ops``; return the names that changed meanwhile (nothing written)."""
        if not ops:
            return []
        return self._write_chunks(what, ops, WRITE_CHUNK)[1]

    def _write_chunks(
        self, what: str, ops: Sequence[Op], chunk: int, sync: tuple[int, str] | None = None
    ) -> tuple[set[str], list[str]]:
        """Compare-and-set ``ops`` in calls of ``chunk`` entries, all in one round trip.

        Each call is written whole or not at all. ``sync`` (write generation read, digest)
        marks the calls as the static sync's: the last stores the digest (see ``write.lua``).
        Return the names written and the names that changed meanwhile (their call wrote
        nothing).
        """
        keys = self.keys
        chunks = [ops[i : i + chunk] for i in range(0, len(ops), chunk)] or [[]]
        arg_lists: list[list[Any]] = []
        for i, part in enumerate(chunks):
            if sync is None:
                mode, generation, digest = "w", "0", ""
            else:
                last = i == len(chunks) - 1
                mode, generation, digest = ("S" if last else "s"), str(sync[0] + i), sync[1]
            args: list[Any] = [SCHEMA_VERSION, mode, generation, digest]
            for op in part:
                args += op
            arg_lists.append(args)
        replies = self.calls.run_scripts(
            what,
            "write",
            [keys.defs, keys.states, keys.due, keys.inflight, keys.claimed, keys.static,
             keys.corrupt, keys.meta],
            arg_lists,
        )  # fmt: skip
        written: set[str] = set()
        conflicts: list[str] = []
        for part, reply in zip(chunks, replies, strict=True):
            if int(reply[0]) == 1:
                written.update(op[1] for op in part)
            else:
                conflicts.extend(_text(name) for name in reply[1:])
        return written, conflicts

    def _gave_up(self, what: str, names: Iterable[str]) -> StoreError:
        return StoreError(
            f"{what} at {self.url} gave up after {MAX_WRITE_ATTEMPTS} attempts: entries "
            f"{sorted(names)} kept changing concurrently"
        )

    # -- definitions -----------------------------------------------------------------------

    def _save_op(
        self, entry: Entry, def_raw: Raw, state_raw: Raw, new_def: bytes | None = None
    ) -> tuple[EntryState, Op | None]:
        """Return the state after saving ``entry`` and the write (None: nothing changed).

        ``new_def``: ``entry`` serialized, when the caller has it already.
        """
        old: Entry | None = None
        state: EntryState | None = None
        if def_raw is not None:
            try:
                old, state = self._parse(entry.name, def_raw, state_raw)
            except CorruptRecord:
                old = state = None
            else:
                if serializer.entry_to_dict(old) == serializer.entry_to_dict(entry):
                    return state, None
        new_state = timing.state_after_save(old, state, entry, self.now(), self._tz)
        return new_state, self._put(entry, new_state, def_raw, state_raw, new_def)

    def save(self, entry: Entry) -> EntryState:
        """Insert or update ``entry`` (see :meth:`Store.save`); two round trips."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            defs, states = self._read([entry.name])
            new_state, op = self._save_op(entry, defs[0], states[0])
            if op is None or not self._write("save", [op]):
                return new_state
        raise self._gave_up("save", [entry.name])

    def get(self, name: str) -> Entry:
        """Return the definition called ``name``."""
        raw = self.calls.call("get", lambda: self.client.hget(self.keys.defs, name))
        if raw is None:
            raise EntryNotFound(name)
        return load_entry(raw, name)

    def delete(self, name: str) -> None:
        """Remove the entry, its state, due slot and claim."""
        exists = self.calls.call("delete", lambda: self.client.hexists(self.keys.defs, name))
        if not exists:
            raise EntryNotFound(name)
        self._write("delete", [["del", name, "*", "*", "", "", "", "0"]])

    def entries(self) -> list[Entry]:
        """Return the readable entries sorted by name (reads every definition)."""
        raw = self.calls.call("list entries", lambda: self.client.hgetall(self.keys.defs))
        found = []
        for key in sorted(raw, key=_text):
            name = _text(key)
            try:
                found.append(load_entry(raw[key], name))
            except CorruptRecord:
                continue
        return found

    def corrupt_records(self) -> list[CorruptRecord]:
        """Return an error for each unreadable definition or state (nothing is deleted)."""
        defs, states = self.calls.pipeline(
            "list records",
            lambda p: (p.hgetall(self.keys.defs), p.hgetall(self.keys.states)),
        )
        errors = []
        for key in sorted(defs, key=_text):
            try:
                self._parse(_text(key), defs[key], states.get(key))
            except CorruptRecord as exc:
                errors.append(exc)
        return errors

    def state(self, name: str) -> EntryState:
        """Return the state of ``name``."""
        state_raw, exists = self.calls.pipeline(
            "get state",
            lambda p: (p.hget(self.keys.states, name), p.hexists(self.keys.defs, name)),
        )
        if not exists:
            raise EntryNotFound(name)
        if state_raw is None:
            raise CorruptRecord(name, "state: missing (the definition has no state record)")
        return load_state(state_raw, name)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable ``name`` (re-enabling reschedules from now)."""
        entry = self.get(name)
        if entry.enabled != enabled:
            self.save(entry.evolve(enabled=enabled))

    def trigger(self, name: str, at: datetime | None = None) -> None:
        """Make ``name`` due once more at ``at`` (default now)."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            defs, states = self._read([name])
            entry, state = self._parse(name, defs[0], states[0])
            state = state.evolve(triggered_at=at or self.now())
            if not self._write("trigger", [self._put(entry, state, defs[0], states[0])]):
                return
        raise self._gave_up("trigger", [name])

    def sync_static(self, entries: Iterable[Entry], keep: Iterable[str] = ()) -> SyncReport:
        """Make the static entries equal to ``entries`` in a constant number of round trips.

        An unchanged static set costs one round trip (its digest matches); otherwise one more
        pipeline reads the records, and one pipeline of compare-and-set script calls writes
        every change (after a concurrent change it reads again); see :mod:`.static_sync`.
        The first call also runs the startup checks (:meth:`check`).
        """
        from beatcore_redis.static_sync import StaticSync

        if self._startup_checks and not self._checked:
            self.check()
        return StaticSync(self, entries, keep).run(MAX_WRITE_ATTEMPTS)

    # -- scheduling --------------------------------------------------------------------------

    def claim_due(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Renew ``lease`` and claim up to ``limit`` due entries: one EVALSHA.

        A second round trip happens only when a claimed record cannot be read: it is then
        recorded in the corrupt hash and left out of the due and in-flight sets.
        """
        keys = self.keys
        reply = self.calls.run_script(
            "claim",
            "claim",
            [keys.lock, keys.fence, keys.due, keys.inflight, keys.claimed, keys.defs,
             keys.states, keys.meta],
            [lease.token, ttl_ms(lease.ttl), self.micros(now),
             self.micros(now - timedelta(seconds=reclaim_after)), limit, lease.holder],
        )  # fmt: skip
        if int(reply[0]) != 1:
            raise lock_lost(lease, reply)
        claims: list[Claim] = []
        corrupt: list[CorruptRecord] = []
        raw = self._claimed_raw
        if len(raw) + (len(reply) - 2) // 4 > CLAIMED_RAW_LIMIT:
            raw.clear()  # claims never acked (their leader lost the lease): forget them
        for i in range(2, len(reply), 4):
            name = _text(reply[i])
            try:
                entry, state = self._parse(name, reply[i + 1], reply[i + 2] or None)
            except CorruptRecord as exc:
                corrupt.append(exc)
                continue
            raw[name] = (state, _bytes(reply[i + 2]))
            claims.append(Claim(entry, state, recovered=reply[i + 3] in (b"1", "1")))
        if corrupt:
            self._quarantine(corrupt)
        next_due = self.from_micros(reply[1]) if reply[1] else None
        return ClaimResult(tuple(claims), tuple(corrupt), next_due)

    def _quarantine(self, errors: Sequence[CorruptRecord]) -> None:
        """Take unreadable claimed records out of flight and note why (they stay stored)."""

        def build(pipe: Any) -> None:
            for error in errors:
                pipe.hdel(self.keys.inflight, error.name)
                pipe.zrem(self.keys.claimed, error.name)
                pipe.hset(self.keys.corrupt, error.name, error.cause)
            # the next static sync compares every record again, and rewrites this one if static
            pipe.hdel(self.keys.meta, "static_digest")
            pipe.hincrby(self.keys.meta, "gen", 1)

        self.calls.pipeline("record corrupt entries", build)
        for error in errors:
            logger.error("beatcore: %s (left in place under %s)", error, self.keys.defs)

    def ack(self, lease: Lease, acks: Sequence[Ack]) -> None:
        """Write the acked states: one EVALSHA for the batch, plus one read and one write
        when some entries changed while in flight (merged with :func:`timing.state_after_ack`).
        """
        keys = self.keys
        raw = self._claimed_raw
        args: list[Any] = [lease.token, ttl_ms(lease.ttl), lease.holder]
        for item in acks:
            known = raw.pop(item.name, None)
            args += [
                item.name,
                known[1] if known and known[0] is item.claimed
                else serializer.dumps_state(item.claimed),
                serializer.dumps_state(item.state),
                self._score(item.due_at),
            ]  # fmt: skip
        reply = self.calls.run_script(
            "ack",
            "ack",
            [keys.lock, keys.fence, keys.due, keys.inflight, keys.claimed, keys.defs, keys.states],
            args,
        )
        if int(reply[0]) != 1:
            raise lock_lost(lease, reply)
        changed = {_text(name) for name in reply[1:]}
        if changed:
            self._merge_changed([item for item in acks if item.name in changed])

    def _merge_changed(self, acks: Sequence[Ack]) -> None:
        """Merge acks of entries changed in flight with their current state (CAS, retried)."""
        names = [item.name for item in acks]
        for _ in range(MAX_WRITE_ATTEMPTS):
            defs, states = self._read(names)
            ops: list[Op] = []
            unreadable: list[CorruptRecord] = []
            for item, def_raw, state_raw in zip(acks, defs, states, strict=True):
                if def_raw is None:
                    continue  # deleted while in flight: stays deleted
                try:
                    entry, current = self._parse(item.name, def_raw, state_raw)
                except CorruptRecord as exc:
                    unreadable.append(exc)
                    continue
                merged = timing.state_after_ack(current, item.claimed, item.state)
                op = self._put(entry, merged, def_raw, state_raw)
                op[6] = self._score(timing.due_after_ack(entry, merged, item.state, item.due_at))
                ops.append(op)
            if unreadable:
                self._quarantine(unreadable)
            if not self._write("ack merge", ops):
                return
        raise self._gave_up("ack", names)

    def in_flight(self) -> list[InFlight]:
        """Return the claims not acked yet, oldest first."""
        claimed, inflight = self.calls.pipeline(
            "list in-flight",
            lambda p: (
                p.zrange(self.keys.claimed, 0, -1, withscores=True),
                p.hgetall(self.keys.inflight),
            ),
        )
        if not claimed:
            return []
        names = [_text(member) for member, _ in claimed]
        states = self.calls.call(
            "list in-flight", lambda: self.client.hmget(self.keys.states, names)
        )
        found = []
        for (member, score), state_raw in zip(claimed, states, strict=True):
            name = _text(member)
            token_text = _text(inflight.get(member, b"0|")).partition("|")[0]
            try:
                next_run_at = load_state(state_raw, name).next_run_at
            except CorruptRecord:
                next_run_at = None
            found.append(
                InFlight(
                    name=name,
                    token=int(token_text or 0),
                    claimed_at=self.from_micros(score),
                    next_run_at=next_run_at,
                )
            )
        return sorted(found, key=lambda f: (f.claimed_at, f.name))

    def status(self) -> StoreStatus:
        """Return a snapshot: leader, last tick, counts, in-flight claims, next due instant."""
        last_tick, count, first = self.calls.pipeline(
            "status",
            lambda p: (
                p.hget(self.keys.meta, "last_tick"),
                p.hlen(self.keys.defs),
                p.zrange(self.keys.due, 0, 0, withscores=True),
            ),
        )
        return StoreStatus(
            url=self.url,
            leader=self._lock.current(),
            last_tick_at=self.from_micros(last_tick) if last_tick else None,
            entry_count=int(count),
            corrupt_count=len(self.corrupt_records()),
            in_flight=tuple(self.in_flight()),
            next_due_at=self.from_micros(first[0][1]) if first else None,
        )

    def check(self) -> list[str]:
        """Run the startup checks once and log what they find (see :mod:`.checks`).

        Called by the first :meth:`sync_static` (scheduler startup); management code may call
        it too. Returns the warnings.
        """
        from beatcore_redis.checks import run_checks

        self._checked = True
        return run_checks(self)

    def close(self) -> None:
        """Close the client's connections."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def open_store(url: str, options: Mapping[str, Any]) -> RedisStore:
    """Open the Redis store for ``url`` with ``options`` (``beatcore_store_options`` plus
    ``key_prefix``, ``default_timezone`` and ``clock``); called by :mod:`.plugin`.

    ``options["client"]`` may hold a ready redis-py client (the URL then only names it).

    :raises ConfigurationError: the URL or an option is malformed.
    """
    spec = parse_url(url, options)
    retry = RetryingCaller(
        spec.masked_url,
        attempts=options.get("retry_attempts", 6),
        base=options.get("retry_backoff_base", 0.1),
        cap=options.get("retry_backoff_cap", 2.0),
    )
    wait_replicas = _non_negative_int(
        "wait_replicas", options.get("wait_replicas", 1 if spec.kind == "sentinel" else 0)
    )
    if wait_replicas and spec.kind == "cluster":
        raise ConfigurationError(
            "beatcore_store_options['wait_replicas'] is not supported on Redis Cluster URLs "
            f"({spec.masked_url!r}); leave it unset there"
        )
    wait_timeout = options.get("wait_timeout", 0.5)
    if not is_number(wait_timeout):
        raise ConfigurationError(
            f"beatcore_store_options['wait_timeout'] must be a number of seconds, "
            f"got {wait_timeout!r}"
        )
    client = options.get("client")
    if client is None:
        client = retry.call("connect", lambda: build_client(spec))
    return RedisStore(
        client,
        url=spec.masked_url,
        key_prefix=options.get("key_prefix") or "beatcore:",
        clock=options.get("clock") or utc_now,
        default_timezone=options.get("default_timezone"),
        retry=retry,
        startup_checks=bool(options.get("startup_checks", True)),
        wait_replicas=wait_replicas,
        wait_timeout=float(wait_timeout),
    )


def _non_negative_int(name: str, value: Any) -> int:
    if not is_integer(value) or value < 0:
        raise ConfigurationError(
            f"beatcore_store_options[{name!r}] must be an integer >= 0, got {value!r}"
        )
    return value
