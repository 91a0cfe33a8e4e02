"""Reading a whole schedule for a report, a page at a time: every readable entry with its
state, and the rest.

One unreadable record (a definition or a state that cannot be decoded) never stops a report:
the good entries are listed and each bad one is named with why it cannot be read. ``list``,
``export`` and ``status`` walk the schedule with :func:`schedule_pages`, so they hold one page
of records at a time, never the whole schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from beatcore import timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord, StoreError
from beatcore.store import Store

#: Records a report reads per :meth:`~beatcore.store.Store.entries_page` call.
PAGE_SIZE = 1000

Record = tuple[Entry, EntryState] | CorruptRecord


def record_name(record: Record) -> str:
    """Return the entry name of a page's item (a readable entry or an unreadable record)."""
    return record.name if isinstance(record, CorruptRecord) else record[0].name


def schedule_pages(store: Store, page_size: int | None = None) -> Iterator[list[Record]]:
    """Yield the store's records in name order, a page of at most ``page_size`` at a time:
    each readable entry with its state, and the error of each record that cannot be read
    (those beat took out of the due index as unreadable, and those this process cannot read).

    Each page is one :meth:`~beatcore.store.Store.entries_page` after the last name of the
    one before (``page_size`` records, default :data:`PAGE_SIZE`), so a store that pages
    cheaply answers in a constant number of round trips per page; an entry removed
    meanwhile is left out. The walk ends at the first empty page (a page may hold fewer
    records than asked while more follow: one was just removed).

    :raises StoreError: the store returned a page that does not follow ``after``.
    """
    size = PAGE_SIZE if page_size is None else page_size
    after: str | None = None
    while True:
        page = store.entries_page(after, size)
        if not page:
            return
        yield page
        last = record_name(page[-1])
        if after is not None and last <= after:
            raise StoreError(
                f"the store's entries_page after {after!r} returned {last!r}, not a later "
                "name: it does not page (see Store.entries_page)"
            )
        after = last


def overdue_by(entry: Entry, state: EntryState, now: datetime, threshold: float) -> float | None:
    """Return how many seconds the entry is past due when that is more than ``threshold``.

    A disabled entry, or one with no run left, is never overdue. Called for each entry that
    ``list`` shows; a leader that ticks sends an entry long before it gets this late.
    """
    if not entry.enabled:
        return None
    due = timing.state_due_at(entry, state)
    if due is None:
        return None
    late = (now - due).total_seconds()
    return late if late > threshold else None
