"""The newest run of many entries in one query (``celery beatcore list``'s last outcome).

One statement reads, for each name of the batch, the newest row of its history (``runs``)
and the newest :data:`LAST_RUN_REPORTS` rows of its report log (``reports``), both through
their ``(name, seq)`` primary key; the store kit applies the reports to the record
(:func:`beatcore.report_log.history_with_reports`), as :meth:`~beatcore.store.Store.history`
does for one entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from beatcore import report_log
from beatcore.store import RunRecord
from beatcore_postgres.connection import Connection
from beatcore_postgres.lock import statement as in_schema
from beatcore_postgres.statements import json_rows

#: The newest reports read with each last run: its own are among them (a start, retries,
#: an end); an entry's whole log (up to three times ``history_size``) is not needed.
LAST_RUN_REPORTS = 32

#: A name without history gives no row (the lateral join finds none); reports oldest first.
_LAST_RUNS = """
    SELECT n.name, last.record,
           ARRAY(SELECT newest.report FROM (
                     SELECT r.report, r.seq FROM {s}.reports AS r
                      WHERE r.name = n.name ORDER BY r.seq DESC LIMIT %(reports)s
                 ) AS newest ORDER BY newest.seq)
      FROM (SELECT DISTINCT value FROM json_array_elements_text(%(names)s::json)) AS n(name)
     CROSS JOIN LATERAL (
           SELECT h.record FROM {s}.runs AS h
            WHERE h.name = n.name ORDER BY h.seq DESC LIMIT 1
     ) AS last
"""


class LastRuns:
    """The last-runs statement of one schema."""

    def __init__(self, schema: str) -> None:
        self._query = in_schema(_LAST_RUNS, schema)

    def read(self, conn: Connection, names: Sequence[str]) -> dict[str, RunRecord]:
        """Return the newest readable run record of each of ``names`` that has one, with its
        worker reports applied (one statement; see :meth:`~beatcore.store.Store.last_runs`).
        Names holding NUL (which no entry of this store can have) are left out."""
        wanted = [name for name in names if "\x00" not in name]
        if not wanted:
            return {}
        rows = conn.execute(
            self._query, {"names": json_rows(wanted), "reports": LAST_RUN_REPORTS}
        ).fetchall()
        found: dict[str, RunRecord] = {}
        for name, record, reports in rows:
            runs = report_log.history_with_reports(name, [record], reports, 1)
            if runs:
                found[name] = runs[0]
        return found
