"""A page of a Redis schedule in name order: ``Store.entries_page`` for the Redis store.

Redis keeps no index of the names in order, so a page costs two round trips: the names (the
keys of the definitions hash and of the notes on unreadable records), then the page's
definitions, states and notes. Only the schedule's names are held in memory, never all its
records, and only the page is decoded.
"""

from __future__ import annotations

from beatcore import storekit
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore_redis.handle import RedisHandle
from beatcore_redis.revive import read_noted


def page_names(names: set[str], after: str | None, limit: int, *, descending: bool) -> list[str]:
    """Return the names of the page: up to ``limit`` of ``names`` after ``after``."""
    ordered = sorted(names, reverse=descending)
    if after is not None:
        ordered = [n for n in ordered if (n < after if descending else n > after)]
    return ordered[:limit]


def entries_page(
    handle: RedisHandle, after: str | None, limit: int, *, descending: bool
) -> list[tuple[Entry, EntryState] | CorruptRecord]:
    """Return up to ``limit`` records after the name ``after`` (see ``Store.entries_page``).

    A record a claim noted unreadable is its noted error; any other is decoded by the store
    kit, so a bad one is its error and never stops the page. A name deleted between the two
    round trips is left out.
    """
    keys = handle.keys
    defined, noted = handle.calls.pipeline(
        "list names", lambda p: (p.hkeys(keys.defs), p.hkeys(keys.corrupt))
    )
    names = page_names(
        {storekit.text(n) for n in (*defined, *noted)}, after, limit, descending=descending
    )
    if not names:
        return []
    defs, states, notes = handle.calls.pipeline(
        "list page",
        lambda p: (
            p.hmget(keys.defs, names),
            p.hmget(keys.states, names),
            p.hmget(keys.corrupt, names),
        ),
    )
    page: list[tuple[Entry, EntryState] | CorruptRecord] = []
    for name, def_raw, state_raw, note in zip(names, defs, states, notes, strict=True):
        if note is not None:
            page.append(read_noted(name, note))
        elif def_raw is not None:
            page.append(storekit.decode_record(name, def_raw, state_raw))
    return page
