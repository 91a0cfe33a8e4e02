"""A page of a Redis schedule in name order: ``Store.entries_page`` for the Redis store.

Redis keeps no index of the names in order, so a page costs two round trips: the names (the
keys of the definitions hash and of the notes on unreadable records), then the page's
definitions, states and notes. Only the schedule's names are held in memory, never all its
records, and only the page is decoded.

A walk through the whole schedule (``celery beatcore list``, ``export``) asks for page after
page, each after the last name of the one before: :class:`NameWalk` keeps the sorted names
the walk's first page read, so each next page asked for within :data:`WALK_SECONDS` is one
round trip and no new sort (reading every name again per page made a walk of N names cost
N²/page). Such a walk sees the names as they were at its first page; an entry removed since is
left out, one added since is not listed by it.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable

from beatcore import storekit
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore_redis.handle import RedisHandle
from beatcore_redis.revive import read_noted

#: Seconds a walk's names are used for its next page; a page asked for later reads them again.
WALK_SECONDS = 10.0


class NameWalk:
    """The sorted names of the walk in progress on one store, and where it is.

    :param clock: monotonic seconds (injected by tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._names: list[str] = []
        self._last: tuple[str, bool] | None = None
        self._at = 0.0

    def names(
        self, after: str | None, descending: bool, read: Callable[[], list[str]]
    ) -> list[str]:
        """Return the sorted names for the page after ``after``: those the walk holds when the
        page continues it (``after`` is the last name it returned, in the same direction, and
        not too long ago), else ``read()``'s, sorted (the walk starts again)."""
        if after is None or self._last != (after, descending) or self._expired():
            self._names = sorted_names(read())
        return self._names

    def returned(self, last: str | None, descending: bool) -> None:
        """Note the last name of the page just returned (None: the walk is done, drop it)."""
        if last is None:
            self._names, self._last = [], None
            return
        self._last, self._at = (last, descending), self._clock()

    def _expired(self) -> bool:
        return self._clock() - self._at > WALK_SECONDS


def sorted_names(names: Iterable[str]) -> list[str]:
    """Return ``names`` sorted, each once."""
    ordered = sorted(names)
    return [name for i, name in enumerate(ordered) if i == 0 or ordered[i - 1] != name]


def page_names(names: list[str], after: str | None, limit: int, *, descending: bool) -> list[str]:
    """Return the names of the page: up to ``limit`` of the sorted ``names`` after ``after``
    (before it when ``descending``)."""
    if descending:
        end = len(names) if after is None else bisect.bisect_left(names, after)
        return names[max(end - limit, 0) : end][::-1]
    start = 0 if after is None else bisect.bisect_right(names, after)
    return names[start : start + limit]


def entries_page(
    handle: RedisHandle, after: str | None, limit: int, *, descending: bool, walk: NameWalk
) -> list[tuple[Entry, EntryState] | CorruptRecord]:
    """Return up to ``limit`` records after the name ``after`` (see ``Store.entries_page``).

    A record a claim noted unreadable is its noted error; any other is decoded by the store
    kit, so a bad one is its error and never stops the page. A name deleted between the two
    round trips is left out.
    """
    keys = handle.keys

    def read() -> list[str]:
        defined, noted = handle.calls.pipeline(
            "list names", lambda p: (p.hkeys(keys.defs), p.hkeys(keys.corrupt))
        )
        names = [storekit.text(name) for name in defined]
        names += [storekit.text(name) for name in noted]
        return names

    names = page_names(walk.names(after, descending, read), after, limit, descending=descending)
    walk.returned(names[-1] if names else None, descending)
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
