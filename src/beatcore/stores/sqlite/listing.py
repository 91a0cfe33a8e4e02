"""A page of a SQLite schedule in name order: ``Store.entries_page`` for the SQLite store.

One range read of the primary key per page, so a listing of a large file holds only the page
in memory.
"""

from __future__ import annotations

from beatcore import storekit
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.storekit import from_micros
from beatcore.stores.sqlite.database import Database, stored_name


class PagedListing:
    """The SQLite store's :meth:`~beatcore.store.Store.entries_page` (a base of SqliteStore)."""

    _db: Database

    def entries_page(
        self, after: str | None = None, limit: int = 100, *, descending: bool = False
    ) -> list[tuple[Entry, EntryState] | CorruptRecord]:
        """Return up to ``limit`` records after the name ``after``, in one read.

        A record beat took out of the due index as unreadable is its noted error; any other
        is decoded by the store kit, so a bad one is its error and never stops the page.
        """
        sign, order = ("<", "DESC") if descending else (">", "ASC")
        where = "" if after is None else f"WHERE name {sign} CAST(? AS TEXT)"
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT name, CAST(entry_json AS BLOB), CAST(state_json AS BLOB), error,"
                f" error_at FROM entries {where} ORDER BY name {order} LIMIT ?",
                (limit,) if after is None else (stored_name(after), limit),
            ).fetchall()
        page: list[tuple[Entry, EntryState] | CorruptRecord] = []
        for name, entry_raw, state_raw, error, error_at in rows:
            if error is not None:
                page.append(CorruptRecord(name, error, from_micros(error_at)))
                continue
            page.append(storekit.decode_record(name, entry_raw, state_raw))
        return page
