"""The static sync of the Redis store: ``beat_schedule`` made equal to the stored static set.

Called once per scheduler start, with every static entry, so its cost is per entry:

* A digest of the whole serialized static set (every definition's JSON, in order, and the
  names kept) is stored beside it in the meta hash. A start whose set is unchanged reads that
  one value (one round trip) and is done. Any write that touches a static entry, and every
  corrupt record taken out of the due index, removes the digest.
* Without a matching digest, an entry is unchanged when its serialized definition is byte for
  byte the stored one: nothing is parsed. Only differing (or recorded-corrupt) records are
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
from typing import TYPE_CHECKING, Any

import attrs

from beatcore import serializer
from beatcore.entry import Entry
from beatcore.errors import CorruptRecord
from beatcore.store import SyncReport
from beatcore_redis.records import load_entry

if TYPE_CHECKING:
    from beatcore_redis.store import Op, Raw, RedisStore

#: Entries per write-script call of the static sync (all calls go in one pipeline).
CHUNK = 1000
_DIGEST_FORMAT = b"beatcore-static-v1\n"


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


@attrs.define
class _Plan:
    """One attempt's changes: the writes, and the names by what happens to them."""

    ops: list[Op] = attrs.Factory(list)
    added: list[str] = attrs.Factory(list)
    updated: list[str] = attrs.Factory(list)
    removed: list[str] = attrs.Factory(list)
    unchanged: list[str] = attrs.Factory(list)


class StaticSync:
    """One :meth:`RedisStore.sync_static` call (see the module docstring).

    :param store: the store it writes to.
    :param entries: the static entries, in ``beat_schedule`` order.
    :param keep: names never removed although missing from ``entries``.
    """

    def __init__(self, store: RedisStore, entries: Iterable[Entry], keep: Iterable[str]) -> None:
        self.store = store
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
            generation, members = found
            plan = self._plan(members)
            written, conflicts = self.store._write_chunks(
                "static sync", plan.ops, CHUNK, sync=(generation, self.digest)
            )
            for kind in ("added", "updated", "removed"):
                for name in getattr(plan, kind):
                    if name in written:
                        done.setdefault(name, kind)
            if not conflicts:
                return self._report(plan, done)
        raise self.store._gave_up("static sync", self.names)

    def _read_digest(self) -> tuple[int, list[str]] | None:
        """Return None when the stored digest matches, else the write generation and the
        static set's members (one round trip)."""
        keys = self.store.keys
        reply = self.store.calls.run_script(
            "static sync read", "static_read", [keys.meta, keys.static], [self.digest]
        )
        if int(reply[0]) == 1:
            return None
        return int(reply[1] or 0), [_text(member) for member in reply[2:]]

    def _plan(self, members: list[str]) -> _Plan:
        store = self.store
        leaving = sorted(set(members) - set(self.wanted) - self.kept)
        defs, states, corrupt, leaving_defs = self._read(leaving)
        plan = _Plan()
        for name, entry, new_def, def_raw, state_raw in zip(
            self.names, self.wanted.values(), self.definitions, defs, states, strict=True
        ):
            if (
                def_raw is not None
                and state_raw is not None
                and _bytes(def_raw) == new_def
                and name not in corrupt
            ):
                plan.unchanged.append(name)
                continue
            _, op = store._save_op(entry, def_raw, state_raw, new_def=new_def)
            if op is None:
                plan.unchanged.append(name)
                continue
            plan.ops.append(op)
            (plan.updated if def_raw is not None else plan.added).append(name)
        for name, def_raw in zip(leaving, leaving_defs, strict=True):
            if def_raw is None:
                continue
            try:
                is_static = load_entry(def_raw, name).static
            except CorruptRecord:
                continue  # unreadable: kept, never deleted without an explicit command
            if is_static:
                plan.ops.append(["del", name, def_raw, "*", "", "", "", "0"])
                plan.removed.append(name)
        return plan

    def _read(self, leaving: list[str]) -> tuple[list[Raw], list[Raw], set[str], list[Raw]]:
        """Read the records of the wanted and leaving names and the names recorded corrupt
        (one round trip)."""
        keys = self.store.keys
        names, leaving_at = self.names, len(self.names)

        def build(pipe: Any) -> None:
            pipe.hkeys(keys.corrupt)
            if names or leaving:
                pipe.hmget(keys.defs, names + leaving)
            if names:
                pipe.hmget(keys.states, names)

        replies = self.store.calls.pipeline("static sync read", build)
        corrupt = {_text(name) for name in replies[0]}
        defs = list(replies[1]) if len(replies) > 1 else []
        states = list(replies[2]) if len(replies) > 2 else []
        return defs[:leaving_at], states, corrupt, defs[leaving_at:]

    def _report(self, plan: _Plan, done: dict[str, str]) -> SyncReport:
        """Return the report of the last attempt, with the names an earlier attempt wrote
        under what happened to them then."""
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
