"""The change log in PostgreSQL: table ``changes`` (schema version 4), one row per change.

``record_changes`` is one statement (insert the batch, trim each name it names to the newest
``change_log_size`` rows); ``changes`` is one query. Deleting an entry keeps its rows. The
rules (what a write keeps, how a record reads) are the store kit's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from beatcore import storekit
from beatcore.store import Change
from beatcore_postgres.connection import Connection
from beatcore_postgres.lock import statement as in_schema
from beatcore_postgres.statements import json_rows

# The DELETE does not see the rows the INSERT adds (one snapshot), so it keeps the newest
# ``size - n`` of the rows there before, ``n`` being how many of the name the batch adds.
_RECORD = """
    WITH batch AS (
        SELECT name, record, ord FROM json_to_recordset(%(rows)s::json)
            AS r(name text, record text, ord integer)
    ), added AS (
        INSERT INTO {s}.changes (name, record) SELECT name, record FROM batch ORDER BY ord
    ), counts AS (
        SELECT name, count(*) AS n FROM batch GROUP BY name
    )
    DELETE FROM {s}.changes c USING counts
    WHERE c.name = counts.name AND c.seq NOT IN (
        SELECT o.seq FROM {s}.changes o WHERE o.name = counts.name
        ORDER BY o.seq DESC LIMIT greatest(%(size)s - counts.n, 0)
    )
"""
_OF_NAME = "SELECT record FROM {s}.changes WHERE name = %(name)s ORDER BY seq DESC LIMIT %(limit)s"
_OF_ALL = "SELECT record FROM {s}.changes ORDER BY seq DESC LIMIT %(limit)s"


class ChangeLog:
    """The change log statements of one schema."""

    def __init__(self, schema: str) -> None:
        self._record = in_schema(_RECORD, schema)
        self._of_name = in_schema(_OF_NAME, schema)
        self._of_all = in_schema(_OF_ALL, schema)

    def record(self, conn: Connection, changes: Sequence[Change], size: int) -> None:
        """Write ``changes`` (oldest first) in one statement; names holding NUL (which no
        entry of this store can have) are left out."""
        kept = storekit.kept_changes(changes, size)
        rows = [
            {"name": change.name, "record": text, "ord": i}
            for i, (change, text) in enumerate(zip(kept, storekit.change_texts(kept), strict=True))
            if "\x00" not in change.name
        ]
        if rows:
            conn.execute(self._record, {"rows": json_rows(rows), "size": size})

    def read(self, conn: Connection, name: str | None, limit: int | None) -> list[Change]:
        """Return the changes of ``name`` (of every name: None), newest first."""
        if name is None:
            rows = conn.execute(self._of_all, {"limit": limit}).fetchall()
        elif "\x00" in name:
            return []
        else:
            rows = conn.execute(self._of_name, {"name": name, "limit": limit}).fetchall()
        return storekit.read_changes((row[0] for row in rows), None)


class ChangeLogMethods:
    """``record_changes`` and ``changes`` of :class:`~beatcore_postgres.store.PostgresStore`."""

    _log: ChangeLog
    change_log_size: int
    _run: Callable[..., Any]

    def record_changes(self, changes: Sequence[Change]) -> None:
        """Append ``changes`` to the change log in one statement (see
        :meth:`Store.record_changes`)."""
        self._run("change log write", lambda c: self._log.record(c, changes, self.change_log_size))

    def changes(self, name: str | None = None, limit: int | None = None) -> list[Change]:
        """Return the change log, newest first (see :meth:`Store.changes`)."""
        found: list[Change] = self._run("change log read", lambda c: self._log.read(c, name, limit))
        return found
