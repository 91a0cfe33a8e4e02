"""A page of a Redis schedule in name order: ``Store.entries_page`` for the Redis store.

Redis keeps no index of the names in order, so a page costs two round trips: the names (the
keys of the definitions hash and of the notes on unreadable records), then the page's
definitions, states and notes. Only the page is decoded, never all the records.

A walk through the whole schedule (``celery beatcore list``, ``export``) asks for the first
page and then page after page, each after the last name of the one before. :class:`NameWalk`
keeps a walk's names in order from its first page (up to :data:`WALKS` walks at once), so
each next page asked for within :data:`WALK_SECONDS` is one round trip with no new read or
sort of the names (reading every name again per page made a walk of N names cost N²/page).
It holds at most
:data:`MEMORY_NAMES` names in memory: a larger schedule's names are read with HSCAN, sorted
in runs of that many kept in temporary files, and merged as the walk goes, so a walk's memory
does not grow with the schedule. A walk sees the names as they were at its first page; an
entry removed since is left out, one added since is not listed by it. A page after a name
that does not continue the walk starts a new one after that name; a descending page reads
and sorts every name.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import attrs

from beatcore import storekit
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore_redis.handle import RedisHandle
from beatcore_redis.revive import read_noted

#: Seconds a walk's names are used for its next page; a page asked for later reads them again.
WALK_SECONDS = 10.0
#: Walks one store keeps going at once (each reader paging through it has its own).
WALKS = 4
#: Most names a walk holds in memory (more are sorted in runs in temporary files).
MEMORY_NAMES = 50_000
#: Names (with their definitions) one HSCAN call of a walk's first page asks for.
SCAN_COUNT = 10_000


class NameWalk:
    """The walks in progress on one store: for each, the names still to come, in order, by
    the last name it gave. Up to :data:`WALKS` go on at once, so readers paging through one
    store together (the web dashboard's users) each continue their own instead of restarting
    one another's; a walk unused for :data:`WALK_SECONDS`, or the oldest beyond that many, is
    dropped. Threads take pages through :meth:`page` one at a time: a page is never cut
    from another thread's walk.

    :param clock: monotonic seconds (injected by tests).
    :param most: how many walks are kept.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, most: int = WALKS) -> None:
        self._clock = clock
        self._most = most
        #: last name given -> that walk; oldest first
        self._walks: OrderedDict[str, _Walk] = OrderedDict()
        self._mutex = threading.Lock()

    def page(self, after: str | None, limit: int, names: Callable[[], Iterator[str]]) -> list[str]:
        """Return the next ``limit`` names after ``after``: those of the walk it continues
        (:meth:`continues`), else those of a new walk over ``names()`` (the names after
        ``after``, in order)."""
        with self._mutex:
            walk = self._resume(after)
            return self._take(_Walk(names()) if walk is None else walk, limit)

    def continues(self, after: str | None) -> bool:
        """Whether a page after ``after`` continues a walk used within
        :data:`WALK_SECONDS`: ``after`` is its last name, or one of its last page (a reader
        that read a name ahead to learn whether more follow, as the web dashboard does)."""
        with self._mutex:
            self._drop_lapsed()
            return after is not None and self._find(after) is not None

    def _drop_lapsed(self) -> None:
        now = self._clock()
        for last, walk in list(self._walks.items()):
            if now - walk.at > WALK_SECONDS:
                del self._walks[last]

    def _find(self, after: str) -> str | None:
        """The key of the walk a page after ``after`` continues, if any."""
        if after in self._walks:
            return after
        for last, walk in self._walks.items():
            if walk.page and walk.page[0] <= after < last:
                return last
        return None

    def _resume(self, after: str | None) -> _Walk | None:
        self._drop_lapsed()
        last = None if after is None else self._find(after)
        if after is None or last is None:
            return None
        walk = self._walks.pop(last)
        if last != after:  # its last page's names after ``after`` come again first
            walk.ahead.extendleft(reversed(walk.page[bisect.bisect_right(walk.page, after) :]))
        return walk

    def _take(self, walk: _Walk, limit: int) -> list[str]:
        """The walk's next ``limit`` names. The walk is kept for its next page, also when
        it gave fewer (its end: the page after that is empty, without a read); the empty
        page drops it."""
        ahead = walk.ahead
        page = [ahead.popleft() for _ in range(min(limit, len(ahead)))]
        page += itertools.islice(walk.names, limit - len(page))
        if page:
            if len(page) < limit:
                walk.names = iter(())
            walk.page, walk.at = page, self._clock()
            self._walks[page[-1]] = walk
            while len(self._walks) > self._most:
                self._walks.popitem(last=False)
        return page


@attrs.define
class _Walk:
    """One walk of a :class:`NameWalk`: its names to come (``ahead`` first: names of its
    last page given again to a reader that continues from inside that page), its last page,
    when it gave it."""

    names: Iterator[str]
    page: list[str] = attrs.Factory(list)
    ahead: deque[str] = attrs.Factory(deque)
    at: float = 0.0


def sorted_names(names: Iterable[str]) -> list[str]:
    """Return ``names`` sorted, each once."""
    ordered = sorted(names)
    return [name for i, name in enumerate(ordered) if i == 0 or ordered[i - 1] != name]


def names_in_order(handle: RedisHandle) -> Iterator[str]:
    """Read the schedule's names (definitions and notes) and return them in order, each
    once: one round trip up to :data:`SCAN_COUNT` names, one more per that many after (the
    ``names`` script: HSCAN's steps without the definitions); the names past
    :data:`MEMORY_NAMES` wait in sorted runs in temporary files, merged lazily."""
    keys = handle.keys
    held: list[bytes] = []
    runs: list[IO[bytes]] = []
    cursor: Any = "0"
    while True:
        reply = handle.calls.run_script(
            "list names", "names", [keys.defs, keys.corrupt], [cursor, SCAN_COUNT]
        )
        cursor = reply[0]
        held.extend(reply[2:])
        if len(held) >= MEMORY_NAMES:
            runs.append(_spill(held))
            held = []
        if not int(cursor):
            break
    held.sort()
    merged = heapq.merge(iter(held), *(_read_run(run) for run in runs)) if runs else iter(held)
    return _unique(storekit.text(name) for name in merged)


def _spill(names: list[bytes]) -> IO[bytes]:
    """Write ``names`` sorted to a temporary file (deleted when closed); return it rewound."""
    names.sort()
    run = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _read_run once read, or when dropped)
    for name in names:
        run.write(len(name).to_bytes(4, "big"))
        run.write(name)
    run.seek(0)
    return run


def _read_run(run: IO[bytes]) -> Iterator[bytes]:
    with run:
        while head := run.read(4):
            yield run.read(int.from_bytes(head, "big"))


def _after(names: Iterator[str], after: str | None) -> Iterator[str]:
    return names if after is None else (name for name in names if name > after)


def _unique(names: Iterable[str]) -> Iterator[str]:
    last: Any = None
    for name in names:
        if name != last:
            yield name
            last = name


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
    """Return up to ``limit`` records after the name ``after`` (see ``Store.entries_page``):
    exactly ``limit`` unless the schedule ends first, also when names went away since the
    walk read them (the page is topped up from the names after them).

    A record a claim noted unreadable is its noted error; any other is decoded by the store
    kit, so a bad one is its error and never stops the page.
    """
    page: list[tuple[Entry, EntryState] | CorruptRecord] = []
    while len(page) < limit:
        wanted = limit - len(page)
        names = _page_names(handle, after, wanted, descending=descending, walk=walk)
        if not names:
            break
        page += _records(handle, names)
        if len(names) < wanted:
            break  # the schedule's last names
        after = names[-1]
    return page


def _page_names(
    handle: RedisHandle, after: str | None, limit: int, *, descending: bool, walk: NameWalk
) -> list[str]:
    if not descending:
        return walk.page(after, limit, lambda: _after(names_in_order(handle), after))
    keys = handle.keys
    defined, noted = handle.calls.pipeline(
        "list names", lambda p: (p.hkeys(keys.defs), p.hkeys(keys.corrupt))
    )
    every = [storekit.text(name) for name in defined]
    every += [storekit.text(name) for name in noted]
    return page_names(sorted_names(every), after, limit, descending=descending)


def _records(
    handle: RedisHandle, names: list[str]
) -> list[tuple[Entry, EntryState] | CorruptRecord]:
    """The records of ``names`` (one round trip); a name deleted meanwhile is left out."""
    keys = handle.keys
    defs, states, notes = handle.calls.pipeline(
        "list page",
        lambda p: (
            p.hmget(keys.defs, names),
            p.hmget(keys.states, names),
            p.hmget(keys.corrupt, names),
        ),
    )
    records: list[tuple[Entry, EntryState] | CorruptRecord] = []
    for name, def_raw, state_raw, note in zip(names, defs, states, notes, strict=True):
        if note is not None:
            records.append(read_noted(name, note))
        elif def_raw is not None:
            records.append(storekit.decode_record(name, def_raw, state_raw))
    return records
