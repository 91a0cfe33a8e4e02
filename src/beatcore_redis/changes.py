"""The change log on Redis: a list per entry name and one for the whole schedule.

``{tag}:changes:<name>`` holds that name's changes, newest first (LPUSH), trimmed to
``change_log_size``; ``{tag}:changelog`` holds the newest ``change_log_size`` changes of every
name, for ``changes()`` without a name (no scan over the per-name keys). Both carry the
schedule's hash tag, so they live in its Cluster slot. A delete leaves them, so who deleted an
entry stays readable. Written in one pipelined round trip; the rules are the store kit's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beatcore import storekit
from beatcore.store import Change
from beatcore_redis.handle import RedisHandle


def log_key(handle: RedisHandle, name: str | None) -> bytes:
    """Return the list key of ``name``'s changes, or of every name's (None)."""
    base = handle.keys.base
    if name is None:
        return (base + "changelog").encode()
    return (base + "changes:").encode() + name.encode("utf-8", "surrogateescape")


def record_changes(handle: RedisHandle, changes: Sequence[Change], size: int) -> None:
    """Push ``changes`` onto their names' lists and the schedule's, each trimmed to ``size``."""
    grouped = storekit.changes_by_name(changes, size)
    if not grouped:
        return
    every = [change.to_json() for change in storekit.kept_changes(changes, size)][-size:]

    def build(pipe: Any) -> None:
        for name, texts in grouped.items():
            key = log_key(handle, name)
            pipe.lpush(key, *texts)
            pipe.ltrim(key, 0, size - 1)
        pipe.lpush(log_key(handle, None), *every)
        pipe.ltrim(log_key(handle, None), 0, size - 1)

    handle.calls.pipeline("record changes", build)


def read_changes(handle: RedisHandle, name: str | None, limit: int | None) -> list[Change]:
    """Return the changes of ``name`` (of every name: None), newest first (one round trip)."""
    key = log_key(handle, name)
    raw = handle.calls.call("changes", lambda: handle.client.lrange(key, 0, -1))
    return storekit.read_changes(raw, limit)
