"""The entries table on the server: filter by name glob and state, name order, pages.

A page is read from the store a batch at a time (:meth:`~beatcore.store.Store.entries_page`),
filtered, and cut at ``limit``; the cursor of the next page is the last name shown. So a
request holds one batch and one page in memory whatever the schedule's size, and a filter
that matches little stops after :data:`SCAN_LIMIT` records with a cursor to go on from.
A glob with a literal start (``reports.*``) reads only the names with that start.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from datetime import datetime

import attrs

from beatcore.cli.reading import overdue_by
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.store import Store

#: The states the table filters on.
STATES = ("enabled", "disabled", "static", "dynamic", "overdue", "unreadable")
#: The most records one request reads while looking for matches.
SCAN_LIMIT = 10_000
#: Rows per page at most (the API's ``limit``).
MAX_LIMIT = 1000
#: The largest code point: a name of a prefix P sorts before P + this.
_LAST = "\U0010ffff"
_WILDCARD = re.compile(r"[*?\[]")

Item = tuple[Entry, EntryState] | CorruptRecord


@attrs.frozen
class Query:
    """What the table shows: name glob, state, order, the page's cursor and size."""

    pattern: str | None = None
    state: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(STATES))
    )
    descending: bool = False
    after: str | None = None
    limit: int = attrs.field(
        default=50, validator=[attrs.validators.ge(1), attrs.validators.le(MAX_LIMIT)]
    )


@attrs.frozen
class Page:
    """One page: its items, the cursor of the next (None: this is the last), records read."""

    items: tuple[Item, ...]
    next_after: str | None
    searched: int
    #: True when the scan stopped at SCAN_LIMIT before the page was full.
    partial: bool = False


def item_name(item: Item) -> str:
    """Return the entry name of a page item."""
    return item.name if isinstance(item, CorruptRecord) else item[0].name


def _state_test(state: str | None, now: datetime, overdue_after: float) -> Callable[[Item], bool]:
    def test(item: Item) -> bool:
        if isinstance(item, CorruptRecord):
            return state in (None, "unreadable")
        entry, entry_state = item
        return {
            None: True,
            "enabled": entry.enabled,
            "disabled": not entry.enabled,
            "static": entry.static,
            "dynamic": not entry.static,
            "overdue": overdue_by(entry, entry_state, now, overdue_after) is not None,
            "unreadable": False,
        }[state]

    return test


def _prefix(pattern: str | None) -> str:
    if not pattern:
        return ""
    match = _WILDCARD.search(pattern)
    return pattern if match is None else pattern[: match.start()]


def _just_before(prefix: str) -> str:
    """Return a string that sorts after every name below ``prefix`` and before ``prefix``."""
    last = ord(prefix[-1])
    if not last:
        return prefix[:-1]
    below = last - 1 if not 0xD800 <= last - 1 <= 0xDFFF else 0xD7FF  # never a surrogate
    return prefix[:-1] + chr(below) + _LAST


def read_page(
    store: Store,
    query: Query,
    now: datetime,
    overdue_after: float,
    *,
    scan_limit: int = SCAN_LIMIT,
) -> Page:
    """Return the page of ``store`` that ``query`` asks for, as of ``now``."""
    prefix = _prefix(query.pattern)
    cursor = query.after
    if prefix:
        start = prefix + _LAST if query.descending else _just_before(prefix)
        if cursor is None or (cursor > start if query.descending else cursor < start):
            cursor = start
    state_ok = _state_test(query.state, now, overdue_after)
    filtered = query.pattern is not None or query.state is not None
    batch_size = min(max(query.limit + 1, 200), MAX_LIMIT) if filtered else query.limit + 1
    found: list[Item] = []
    searched = 0
    while searched < scan_limit:
        batch = store.entries_page(cursor, batch_size, descending=query.descending)
        for item in batch:
            name = item_name(item)
            searched += 1
            cursor = name
            if prefix and not name.startswith(prefix):
                beyond = name < prefix if query.descending else name > prefix
                if beyond:
                    return Page(tuple(found[: query.limit]), None, searched)
                continue
            if query.pattern is not None and not fnmatch.fnmatchcase(name, query.pattern):
                continue
            if not state_ok(item):
                continue
            found.append(item)
            if len(found) > query.limit:
                shown = tuple(found[: query.limit])
                return Page(shown, item_name(shown[-1]), searched)
        if len(batch) < batch_size:
            return Page(tuple(found), None, searched)
    return Page(tuple(found), cursor, searched, partial=True)
