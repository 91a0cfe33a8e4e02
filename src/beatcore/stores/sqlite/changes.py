"""The change log in a SQLite file: table ``changes``, one row per change, in the order made.

Written by ``Store.record_changes`` in one transaction, read by ``Store.changes``
(:class:`ChangeLogMethods`, which the store inherits); the rules (which records are kept, how
they read) are the store kit's. Deleting an entry keeps its rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from beatcore import storekit
from beatcore.store import Change
from beatcore.stores.sqlite.database import Database, stored_name


class ChangeLogMethods:
    """``record_changes`` and ``changes`` of :class:`~beatcore.stores.sqlite.SqliteStore`."""

    _db: Database
    change_log_size: int

    def record_changes(self, changes: Sequence[Change]) -> None:
        """Append ``changes`` to the change log in one write (see :meth:`Store.record_changes`)."""
        with self._db.transaction(write=True) as conn:
            write_changes(conn, changes, self.change_log_size)

    def changes(self, name: str | None = None, limit: int | None = None) -> list[Change]:
        """Return the change log, newest first (see :meth:`Store.changes`)."""
        with self._db.transaction() as conn:
            return read_changes(conn, name, limit)


def write_changes(conn: sqlite3.Connection, changes: Sequence[Change], size: int) -> None:
    """Append ``changes`` and drop all but the newest ``size`` rows of each name they name.

    Called inside a write transaction.
    """
    kept = storekit.kept_changes(changes, size)
    conn.executemany(
        "INSERT INTO changes (name, record) VALUES (CAST(? AS TEXT), ?)",
        [
            (stored_name(change.name), text)
            for change, text in zip(kept, storekit.change_texts(kept), strict=True)
        ],
    )
    conn.executemany(
        "DELETE FROM changes WHERE name = CAST(? AS TEXT) AND seq < (SELECT min(seq) FROM"
        " (SELECT seq FROM changes WHERE name = CAST(? AS TEXT) ORDER BY seq DESC LIMIT ?))",
        [(stored_name(name), stored_name(name), size) for name in {c.name: 0 for c in kept}],
    )


def read_changes(conn: sqlite3.Connection, name: str | None, limit: int | None) -> list[Change]:
    """Return the changes of ``name`` (of every name: None), newest first (see
    :meth:`Store.changes`); rows are read only until ``limit`` readable ones are found."""
    if name is None:
        rows = conn.execute("SELECT CAST(record AS BLOB) FROM changes ORDER BY seq DESC")
    else:
        rows = conn.execute(
            "SELECT CAST(record AS BLOB) FROM changes WHERE name = CAST(? AS TEXT)"
            " ORDER BY seq DESC",
            (stored_name(name),),
        )
    return storekit.read_changes((row[0] for row in rows), limit)
