"""A page of a PostgreSQL schedule in name order: ``Store.entries_page`` for this store.

One range read of the primary key per page (names are ``COLLATE "C"``, so the order is
Python's order of the names), so a listing of a large schedule holds only its page.
"""

from __future__ import annotations

from beatcore import storekit
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore_postgres.connection import Connection
from beatcore_postgres.lock import statement, utc

_COLUMNS = "SELECT name, entry_json, state_json, error, error_at FROM {s}.entries"
_LIMIT = " LIMIT %(limit)s"


class Pages:
    """The page queries of one schema."""

    def __init__(self, schema: str) -> None:
        self._page_sql = {
            key: statement(_COLUMNS + where + order + _LIMIT, schema)
            for key, where, order in (
                ("first", "", " ORDER BY name"),
                ("last", "", " ORDER BY name DESC"),
                (">", " WHERE name > %(after)s", " ORDER BY name"),
                ("<", " WHERE name < %(after)s", " ORDER BY name DESC"),
                ("<=", " WHERE name <= %(after)s", " ORDER BY name DESC"),
            )
        }

    def read(
        self, conn: Connection, after: str | None, limit: int, descending: bool
    ) -> list[tuple[Entry, EntryState] | CorruptRecord]:
        """Return up to ``limit`` records after the name ``after``, in one query (see
        ``Store.entries_page``).

        A record a tick took out as unreadable is its noted error; any other is decoded by
        the store kit, so a bad one is its error and never stops the page.
        """
        if after is None:
            key = "last" if descending else "first"
        elif "\x00" in after:
            # No stored name holds NUL: the names after it are those after its part before
            # the NUL, and before it those up to that part.
            after = after.partition("\x00")[0]
            key = "<=" if descending else ">"
        else:
            key = "<" if descending else ">"
        sql = self._page_sql[key]
        rows = conn.execute(sql, {"after": after, "limit": limit}).fetchall()
        page: list[tuple[Entry, EntryState] | CorruptRecord] = []
        for name, entry_json, state_json, error, error_at in rows:
            if error is not None:
                page.append(CorruptRecord(name, error, utc(error_at)))
                continue
            page.append(storekit.decode_record(name, entry_json, state_json))
        return page
