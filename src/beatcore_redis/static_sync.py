"""The static sync of the Redis store: ``beat_schedule`` made equal to the stored static set.

Called once per scheduler start, with every static entry, so its cost is per entry:

* A digest of the whole serialized static set (every definition's JSON, in order, and the
  names kept) is stored beside it in the meta hash. A start whose set is unchanged reads that
  one value (one round trip) and is done. Any write that touches a static entry, and every
  corrupt record taken out of the due index, removes the digest.
* Without a matching digest, an entry is unchanged when its serialized definition is byte for
  byte the stored one: nothing is parsed. A schedule holding no record at all (the first
  start) is not read: every entry is new. Only differing (or recorded-corrupt) records are
  parsed and compared as the store's ``save`` compares them.
* The changes are written in chunks of :data:`CHUNK` entries, each one compare-and-set script
  call, all chunks in one pipeline: a constant number of round trips whatever the size, and
  no single script call that blocks Redis for long. The last chunk stores the new digest when
  nothing else wrote a static entry since the sync read (see ``write.lua``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from beatcore import serializer, storekit, timing
from beatcore.entry import Entry, EntryState
from beatcore.store import SyncReport
from beatcore_redis.handle import RedisHandle
from beatcore_redis.writes import Delete, Put, SyncMark, Write, gave_up, write_chunks

#: Entries per write-script call of the static sync (all calls go in one pipeline).
CHUNK = 1000
_DIGEST_FORMAT = b"beatcore-static-v1\n"
_KINDS = ("added", "updated", "removed")

Raw = bytes | str | None


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def static_digest(definitions: Sequence[bytes], keep: Iterable[str]) -> str:
    """Return the digest of a static set: its serialized definitions, in order, and the names
    kept out of the removal (entries whose ``beat_schedule`` item could not be read).

    Each definition is a JSON object holding its name, so joining them is unambiguous.
    """
    digest = hashlib.blake2b(_DIGEST_FORMAT, digest_size=20)
    digest.update(b"\n".join(definitions))
    digest.update(b"\n" + json.dumps(sorted(keep)).encode())
    return digest.hexdigest()


class _Puts:
    """The :class:`Put` of each written entry (what :func:`beatcore_redis.writes.put` gives),
    a state's text and due score made once for the entries that share that state object
    (new entries sharing their timing: :class:`~beatcore.storekit.NewStates`) and have no
    jitter (a jitter makes the due instant the name's own)."""

    def __init__(self) -> None:
        # (id of the state, enabled) -> (the state, kept so its id stays its own, its text,
        # its due score, enabled); the last one used first
        self._made: dict[tuple[int, bool], tuple[EntryState, str, str, bool]] = {}
        self._last: tuple[EntryState, str, str, bool] | None = None

    def put(
        self, entry: Entry, state: EntryState, definition: bytes, def_raw: Raw, state_raw: Raw
    ) -> Put:
        """Return the Put of ``entry`` and ``state`` over the records read."""
        made = self._last
        if made is None or made[0] is not state or made[3] is not entry.enabled:
            made = self._made.get((id(state), entry.enabled))
        if made is None or made[0] is not state or entry.jitter > 0:
            text = serializer.dumps_state(state)
            score = RedisHandle.score(timing.state_due_at(entry, state))
            if entry.jitter <= 0:
                self._last = self._made[(id(state), entry.enabled)] = (
                    state,
                    text,
                    score,
                    entry.enabled,
                )
        else:
            text, score = made[1], made[2]
            self._last = made
        return Put(
            entry.name, def_raw or b"", state_raw or b"", definition, text, score, entry.static
        )


@attrs.define
class _Plan:
    """One attempt's changes: the writes, and the names by what happens to them."""

    writes: list[Write] = attrs.Factory(list)
    added: list[str] = attrs.Factory(list)
    updated: list[str] = attrs.Factory(list)
    removed: list[str] = attrs.Factory(list)
    unchanged: list[str] = attrs.Factory(list)


class StaticSync:
    """One :meth:`RedisStore.sync_static` call (see the module docstring).

    :param handle: the schedule it writes to.
    :param entries: the static entries, in ``beat_schedule`` order.
    :param keep: names never removed although missing from ``entries``.
    """

    def __init__(self, handle: RedisHandle, entries: Iterable[Entry], keep: Iterable[str]) -> None:
        self.handle = handle
        self.wanted = {entry.name: entry for entry in entries}
        self.names = list(self.wanted)
        self.kept = set(keep)
        self.definitions = [
            serializer.dumps_entry(entry).encode() for entry in self.wanted.values()
        ]
        self.digest = static_digest(self.definitions, self.kept)

    def run(self, attempts: int) -> SyncReport:
        """Sync, reading again after a concurrent change, up to ``attempts`` times.

        :raises StoreError: the entries kept changing concurrently.
        """
        # names written by an earlier attempt whose other chunk met a concurrent change
        done: dict[str, str] = {}
        for _ in range(attempts):
            found = self._read_digest()
            if found is None:  # (on a retry: another sync wrote the same set meanwhile)
                return self._report(_Plan(unchanged=list(self.names)), done)
            generation, members, empty = found
            plan = self._plan(members, empty)
            written, conflicts = write_chunks(
                self.handle, "static sync", plan.writes, CHUNK, SyncMark(generation, self.digest)
            )
            if not conflicts:  # (this attempt wrote all it planned)
                return self._report(plan, done)
            for kind in _KINDS:
                for name in getattr(plan, kind):
                    if name in written:
                        done.setdefault(name, kind)
        raise gave_up(self.handle, "static sync", self.names)

    def _read_digest(self) -> tuple[int, list[str], bool] | None:
        """Return None when the stored digest matches, else the write generation, the static
        set's members and whether the schedule holds no record at all (one round trip)."""
        keys = self.handle.keys
        reply = self.handle.calls.run_script(
            "static sync read",
            "static_read",
            [keys.meta, keys.static, keys.defs, keys.states],
            [self.digest],
        )
        if int(reply[0]) == 1:
            return None
        members = [storekit.text(member) for member in reply[3:]]
        return int(reply[1] or 0), members, int(reply[2]) == 1

    def _plan(self, members: list[str], empty: bool) -> _Plan:
        """Return the writes for the records read now (none when the schedule is ``empty``:
        not read, every entry is new; a write finding a record meanwhile conflicts and the
        sync reads again): a wanted entry whose stored definition is byte for byte the new
        one (and not recorded corrupt) is unchanged without being parsed; the kit plans the
        others (:func:`storekit.plan_static_sync`)."""
        leaving = sorted(set(members) - set(self.wanted) - self.kept)
        defs: list[Raw]
        states: list[Raw]
        leaving_defs: list[Raw]
        corrupt: set[str]
        if empty:
            defs, states = [None] * len(self.names), [None] * len(self.names)
            corrupt, leaving_defs = set(), [None] * len(leaving)
        else:
            defs, states, corrupt, leaving_defs = self._read(leaving)
        plan = _Plan()
        differing: list[Entry] = []
        stored: dict[str, tuple[Raw, Raw]] = {}
        definitions: dict[str, bytes] = {}
        for name, entry, new_def, def_raw, state_raw in zip(
            self.names, self.wanted.values(), self.definitions, defs, states, strict=True
        ):
            if (
                def_raw is not None
                and state_raw is not None
                and _bytes(def_raw) == new_def
                and name not in corrupt
            ):
                continue
            differing.append(entry)
            definitions[name] = new_def
            if def_raw is not None:
                stored[name] = (def_raw, state_raw)
        stored.update(
            (name, (def_raw, None))
            for name, def_raw in zip(leaving, leaving_defs, strict=True)
            if def_raw is not None
        )
        decided = storekit.plan_static_sync(
            differing, stored, self.kept, self.handle.now(), self.handle.default_timezone
        )
        puts = _Puts()
        for entry, state in decided.writes:
            def_raw, state_raw = stored.get(entry.name, (None, None))
            plan.writes.append(puts.put(entry, state, definitions[entry.name], def_raw, state_raw))
        plan.writes.extend(Delete(name, _bytes(stored[name][0] or b"")) for name in decided.removed)
        plan.added, plan.updated = list(decided.report.added), list(decided.report.updated)
        plan.removed = list(decided.removed)
        changed = set(plan.added) | set(plan.updated)
        plan.unchanged = [name for name in self.names if name not in changed]
        return plan

    def _read(self, leaving: list[str]) -> tuple[list[Raw], list[Raw], set[str], list[Raw]]:
        """Read the records of the wanted and leaving names and the names recorded corrupt
        (one round trip)."""
        keys = self.handle.keys
        names, leaving_at = self.names, len(self.names)

        def build(pipe: Any) -> None:
            pipe.hkeys(keys.corrupt)
            if names or leaving:
                pipe.hmget(keys.defs, names + leaving)
            if names:
                pipe.hmget(keys.states, names)

        replies = self.handle.calls.pipeline("static sync read", build)
        corrupt = {storekit.text(name) for name in replies[0]}
        defs = list(replies[1]) if len(replies) > 1 else []
        states = list(replies[2]) if len(replies) > 2 else []
        return defs[:leaving_at], states, corrupt, defs[leaving_at:]

    def _report(self, plan: _Plan, done: dict[str, str]) -> SyncReport:
        """Return the report of the last attempt, with the names an earlier attempt wrote
        under what happened to them then."""
        if not done:  # the plan's names are in beat_schedule's order
            return SyncReport(
                tuple(plan.added),
                tuple(plan.updated),
                tuple(sorted(plan.removed)),
                tuple(plan.unchanged),
            )
        kind_of = {
            name: kind for kind in ("added", "updated", "unchanged") for name in getattr(plan, kind)
        }
        kind_of.update((name, kind) for name, kind in done.items() if kind != "removed")
        kinds: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": []}
        for name in self.names:
            kinds[kind_of[name]].append(name)
        removed = set(plan.removed) | {name for name, kind in done.items() if kind == "removed"}
        return SyncReport(
            tuple(kinds["added"]),
            tuple(kinds["updated"]),
            tuple(sorted(removed)),
            tuple(kinds["unchanged"]),
        )
