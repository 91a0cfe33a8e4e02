"""What beat asks of the Redis store at start: revive the records that read again, and keep
what it says about itself (:class:`~beatcore.store.BeatInfo`, in the ``meta`` hash)."""

from __future__ import annotations

import json
from datetime import datetime

from beatcore import storekit
from beatcore.errors import BeatcoreError, CorruptRecord
from beatcore.store import BeatInfo
from beatcore.timeutil import parse_isoformat
from beatcore_redis import writes
from beatcore_redis.handle import RedisHandle

#: The field of the ``meta`` hash that holds the last :class:`BeatInfo` as JSON.
BEAT_INFO_FIELD = "beat_info"


def noted_unreadable(cause: str, since: datetime) -> str:
    """Return the value the ``corrupt`` hash keeps for an entry: why, and since when (JSON).

    Called when a claim takes an unreadable record out. Values noted before the time was kept
    hold the cause alone, which :func:`read_noted` still reads.
    """
    return json.dumps({"cause": cause, "since": since.isoformat()})


def read_noted(name: bytes | str, raw: bytes | str) -> CorruptRecord:
    """Return the error an entry of the ``corrupt`` hash notes (``since`` None when it
    holds the cause alone)."""
    text = storekit.text(raw)
    if text.startswith('{"cause"'):
        try:
            noted = json.loads(text)
            since = parse_isoformat(noted["since"], "since")
            return CorruptRecord(storekit.text(name), str(noted["cause"]), since)
        except (ValueError, KeyError, TypeError, BeatcoreError):
            pass  # not one of ours after all: shown as it is
    return CorruptRecord(storekit.text(name), text)


def unreadable_records(handle: RedisHandle) -> list[CorruptRecord]:
    """Return each entry of the ``corrupt`` hash with the error noted and since when."""
    keys = handle.keys
    noted = handle.calls.call("unreadable", lambda: handle.client.hgetall(keys.corrupt))
    return sorted(
        (read_noted(name, raw) for name, raw in noted.items()), key=lambda error: error.name
    )


def retry_unreadable(handle: RedisHandle) -> list[str]:
    """Put back each entry of the ``corrupt`` hash whose record reads now; return the names.

    Each revived record is written back unchanged through the compare-and-set write, which
    drops it from the ``corrupt`` hash and puts it in the due index; a record changed
    meanwhile is read again (the change has revived it already, or it is still unreadable).
    """
    keys = handle.keys
    names = sorted(
        storekit.text(name)
        for name in handle.calls.call("unreadable names", lambda: handle.client.hkeys(keys.corrupt))
    )
    revived: set[str] = set()
    for _ in range(writes.MAX_WRITE_ATTEMPTS):
        defs, states = writes.read(handle, names)
        puts = []
        for name, def_raw, state_raw in zip(names, defs, states, strict=True):
            if def_raw is None:
                continue
            stored = storekit.decode_record(name, def_raw, state_raw)
            if not isinstance(stored, CorruptRecord):
                puts.append(writes.put(*stored, def_raw, state_raw, definition=def_raw))
        conflicts = writes.write(handle, "retry unreadable", puts)
        revived.update(put.name for put in puts if put.name not in conflicts)
        if not conflicts:
            return sorted(revived)
        names = conflicts
    raise writes.gave_up(handle, "retry unreadable", names)


def record_beat(handle: RedisHandle, info: BeatInfo) -> None:
    """Keep ``info`` in the ``meta`` hash (replacing the last)."""
    keys = handle.keys
    handle.calls.call(
        "record beat", lambda: handle.client.hset(keys.meta, BEAT_INFO_FIELD, info.to_json())
    )


def beat_info(handle: RedisHandle) -> BeatInfo | None:
    """Return the last :class:`BeatInfo` kept, or None."""
    keys = handle.keys
    raw = handle.calls.call(
        "read beat info", lambda: handle.client.hget(keys.meta, BEAT_INFO_FIELD)
    )
    return None if raw is None else BeatInfo.from_json(raw)
