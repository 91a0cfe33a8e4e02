"""The default of :meth:`Store.entries_page <beatcore.store.Store.entries_page>`: one page
taken from the whole schedule, for stores that cannot read a page alone."""

from __future__ import annotations

from typing import Protocol

from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord, EntryNotFound


class _Readable(Protocol):
    """What the default page reads of a store."""

    def unreadable_records(self) -> list[CorruptRecord]: ...

    def corrupt_records(self) -> list[CorruptRecord]: ...

    def entries(self) -> list[Entry]: ...

    def state(self, name: str) -> EntryState: ...


def page_of_all(
    store: _Readable, after: str | None, limit: int, descending: bool
) -> list[tuple[Entry, EntryState] | CorruptRecord]:
    """Return the page :meth:`Store.entries_page` describes, read from every record of
    ``store`` (its unreadable ones included)."""
    unreadable = {error.name: error for error in store.unreadable_records()}
    for error in store.corrupt_records():
        unreadable.setdefault(error.name, error)
    names = {entry.name: entry for entry in store.entries()}
    order = sorted({*names, *unreadable}, reverse=descending)
    page: list[tuple[Entry, EntryState] | CorruptRecord] = []
    for name in order:
        if len(page) >= limit:
            break
        if after is not None and (name <= after if not descending else name >= after):
            continue
        if name in unreadable:
            page.append(unreadable[name])
            continue
        try:
            page.append((names[name], store.state(name)))
        except EntryNotFound:
            continue
        except CorruptRecord as exc:
            page.append(exc)
    return page
