"""The change log on Redis: one hash of per-name logs and one list for the whole schedule.

``{tag}:changes`` maps each name to its changes, newest first, one JSON record per line,
at most ``change_log_size`` of them; ``{tag}:changelog`` holds the newest ``change_log_size``
changes of every name, for ``changes()`` without a name (no scan over the names). Both carry
the schedule's hash tag, so they live in its Cluster slot. A delete leaves them, so who
deleted an entry stays readable.

A write is the script ``changes.lua``, one call per :data:`CHUNK` names, all in one pipelined
round trip: the client packs one command per chunk, and the server runs three commands per
chunk, not one list per name (beat's first static sync of 10,000 entries was 20,000 commands).
A name costs one hash field (about 180 bytes with one record), not one key (about 400).

Releases before this one kept a list per name, ``{tag}:changes:<name>``. Those still read
(after the hash's records), a write merges the lists of the names it writes, and the first
write that meets such a schedule migrates every list into the hash (one SCAN, then
meta ``change_lists`` = ``0``: see :func:`migrate_lists`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from celery.utils.log import get_logger

from beatcore import storekit
from beatcore.errors import StoreError
from beatcore.store import Change
from beatcore_redis.handle import RedisHandle

logger = get_logger("beatcore.redis")

#: Most names one script call carries (Lua's unpack limit is a few thousand values).
CHUNK = 1000


def _name_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def names_key(handle: RedisHandle) -> bytes:
    """Return the key of the hash of per-name logs (``{tag}:changes``)."""
    return (handle.keys.base + "changes").encode()


def schedule_key(handle: RedisHandle) -> bytes:
    """Return the key of the list of every name's newest changes (``{tag}:changelog``)."""
    return (handle.keys.base + "changelog").encode()


def list_prefix(handle: RedisHandle) -> bytes:
    """Return what an earlier release's per-name list keys start with (``{tag}:changes:``)."""
    return (handle.keys.base + "changes:").encode()


def record_changes(handle: RedisHandle, changes: Sequence[Change], size: int) -> None:
    """Write ``changes`` to their names' logs and the schedule's, each bounded to ``size``
    (one round trip; a first write on a schedule of an earlier release migrates it)."""
    kept = storekit.kept_changes(changes, size)
    if not kept:
        return
    texts = storekit.change_texts(kept)
    names = [_name_bytes(change.name) for change in kept]
    flat: list[Any]  # name, its records newest first, name, ...
    if len(set(names)) == len(names):  # one change per name (beat's static sync)
        flat = [None] * (2 * len(names))
        flat[::2], flat[1::2] = names, texts
    else:
        grouped: dict[bytes, list[str]] = {}
        for name, text in zip(names, texts, strict=True):
            grouped.setdefault(name, []).append(text)
        flat = [value for name, own in grouped.items() for value in (name, _newest_first(own))]
    every = texts[-size:]
    calls = [
        [
            size,
            len(every) if first == 0 else 0,
            *(every if first == 0 else ()),
            *flat[first : first + 2 * CHUNK],
        ]
        for first in range(0, len(flat), 2 * CHUNK)
    ]
    replies = handle.calls.run_scripts("record changes", "changes", _keys(handle), calls)
    if any(int(reply) for reply in replies):
        try:
            migrate_lists(handle, size)
        except StoreError as exc:
            # these changes are written; the lists move at a later write (the mark is unset)
            logger.warning(
                "beatcore: moving the earlier release's change lists at %s failed (%s); the "
                "next change log write tries again",
                handle.url,
                exc,
            )


def _newest_first(texts: list[str]) -> str:
    """Return the records of one name (given oldest first) as the hash holds them."""
    return texts[0] if len(texts) == 1 else "\n".join(reversed(texts))


def migrate_lists(handle: RedisHandle, size: int) -> None:
    """Move every per-name list of an earlier release into the hash, then mark the schedule
    (meta ``change_lists`` = ``0``) so writes stop looking for them.

    Called by :func:`record_changes` when its script met a schedule that may hold such lists;
    one SCAN of the schedule's keys, once. Running it twice, or beside a write, loses nothing:
    each list is merged and deleted by the script in one step.
    """

    def migrate() -> None:
        prefix = list_prefix(handle)
        for names in _chunks(_old_names(handle, prefix)):
            merge = [size, 0, *(value for name in names for value in (name, ""))]
            handle.calls.scripts.run("changes", _keys(handle), merge)
        handle.client.hset(handle.keys.meta, "change_lists", "0")

    handle.calls.call("migrate the change log", migrate)


def read_changes(handle: RedisHandle, name: str | None, limit: int | None) -> list[Change]:
    """Return the changes of ``name`` (of every name: None), newest first (one round trip)."""
    if name is None:
        key = schedule_key(handle)
        raw = handle.calls.call("changes", lambda: handle.client.lrange(key, 0, -1))
        return storekit.read_changes(raw, limit)
    field, old = _name_bytes(name), list_prefix(handle) + _name_bytes(name)

    def build(pipe: Any) -> None:
        pipe.hget(names_key(handle), field)
        pipe.lrange(old, 0, -1)

    own, earlier = handle.calls.pipeline("changes", build)
    stored: list[bytes] = own.split(b"\n") if own else []
    if not earlier:
        return storekit.read_changes(stored, limit)
    # an earlier release's list beside the hash (one still running during an upgrade writes
    # there): newest first across both, by when each change was made
    merged = storekit.read_changes([*stored, *earlier], None)
    merged.sort(key=lambda change: change.at, reverse=True)
    return merged if limit is None else merged[:limit]


def _keys(handle: RedisHandle) -> list[Any]:
    """The script's keys: the names' hash, the schedule's list, meta, the old lists' prefix."""
    return [names_key(handle), schedule_key(handle), handle.keys.meta.encode(), list_prefix(handle)]


def _old_names(handle: RedisHandle, prefix: bytes) -> Iterator[bytes]:
    pattern = _glob_escape(prefix) + b"*"
    for key in handle.client.scan_iter(match=pattern, count=CHUNK):
        yield bytes(key)[len(prefix) :]


def _chunks(names: Iterator[bytes]) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for name in names:
        chunk.append(name)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _glob_escape(text: bytes) -> bytes:
    """Return ``text`` as a SCAN MATCH pattern matching itself only."""
    return b"".join(b"\\" + bytes([c]) if c in b"*?[]\\" else bytes([c]) for c in text)
