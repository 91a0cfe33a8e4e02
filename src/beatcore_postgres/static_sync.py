"""The static sync of the PostgreSQL store: one statement, whatever the number of entries.

The statement carries every static entry: its definition's text and the state it starts with
when new (:func:`beatcore.timing.state_after_save` with nothing stored). On the server, in one
snapshot, it

* leaves alone each entry whose stored definition is byte for byte the given one (and not
  noted unreadable by a tick): unchanged, nothing parsed, nothing sent back;
* inserts each name not stored yet, with its starting state (added);
* returns the rows the store kit must decide: a stored definition that differs from the given
  one (an updated entry, or one equal once read: a record an older release wrote) or that was
  noted unreadable, and each static row neither given nor kept (removed if it reads).

When it returns rows, the kit's plan for them (:func:`beatcore.storekit.plan_static_sync`) is
written in one more statement, compare-and-set (:func:`beatcore_postgres.writes.write`). So a
start whose static set is unchanged or only grew (the first start, a release that adds
entries) is one round trip; one that changes or removes an entry is two.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from beatcore import serializer, storekit, timing
from beatcore.batch import ENTRY_ERRORS
from beatcore.entry import Entry
from beatcore.store import SyncReport
from beatcore_postgres.connection import Connection
from beatcore_postgres.lock import statement as in_schema
from beatcore_postgres.statements import Statements, instant, json_rows
from beatcore_postgres.writes import Conflict, write

#: ``rows``: each given entry (``state_json`` NULL: no starting state computed, the kit
#: decides it); ``keep``: names never removed. Returns one head row (the names inserted, the
#: given names neither stored nor inserted: another process inserted them in between, or they
#: have no starting state) with each row to plan joined to it. A row inserted announces the
#: change on the schedule's channel (delivered at commit: see :mod:`.notify`).
_SYNC = """
    WITH w AS (
        SELECT * FROM json_to_recordset(%(rows)s::json)
               AS w(name text, entry_json text, state_json text, enabled boolean,
                    static boolean, next_run_at timestamptz, due_at timestamptz)
    ),
    stored AS (
        SELECT e.name, e.entry_json, e.state_json, e.rev, e.error FROM {s}.entries AS e
         WHERE e.static OR e.name IN (SELECT name FROM w)
    ),
    inserted AS (
        INSERT INTO {s}.entries AS e
               (name, entry_json, state_json, enabled, static, next_run_at, due_at)
        SELECT name, entry_json, state_json, enabled, static, next_run_at, due_at FROM w
         WHERE w.state_json IS NOT NULL AND w.name NOT IN (SELECT name FROM stored)
            ON CONFLICT (name) DO NOTHING
     RETURNING e.name
    ),
    planned AS (
        SELECT s.name, s.entry_json, s.state_json, s.rev FROM stored AS s
          LEFT JOIN w USING (name)
         WHERE CASE WHEN w.name IS NULL
                    THEN s.name NOT IN (SELECT json_array_elements_text(%(keep)s::json))
                    ELSE s.entry_json <> w.entry_json OR s.error IS NOT NULL END
    )
    SELECT head.added, head.lost, p.name, p.entry_json, p.state_json, p.rev
      FROM (SELECT ARRAY(SELECT name FROM inserted) AS added,
                   ARRAY(SELECT name FROM w WHERE name NOT IN (SELECT name FROM stored)
                         EXCEPT SELECT name FROM inserted) AS lost,
                   (SELECT count(pg_notify('{channel}', ''))
                      FROM (SELECT 1 FROM inserted LIMIT 1) AS changed) AS notified) AS head
      LEFT JOIN planned AS p ON true
"""


class StaticSync:
    """The static sync statement of one schedule.

    :param schema: the schedule's schema.
    :param channel: its ``NOTIFY`` channel.
    """

    def __init__(self, schema: str, channel: str) -> None:
        self._sync = in_schema(_SYNC, schema).replace("{channel}", channel)

    def sync_pass(
        self,
        conn: Connection,
        sql: Statements,
        wanted: Sequence[Entry],
        kept: Sequence[str],
        passes: list[SyncReport],
        now: datetime,
        default_tz: str | tzinfo | None,
    ) -> SyncReport:
        """One pass of the static sync (see the module docstring): returns the report of
        every pass so far; raises :class:`~.writes.Conflict` (this pass's report kept in
        ``passes``) when another process wrote one of the rows in between."""
        given = {entry.name: entry for entry in wanted}
        batch = [_row(entry, now, default_tz) for entry in given.values()]
        rows = conn.execute(
            self._sync, {"rows": json_rows(batch), "keep": json_rows(kept)}
        ).fetchall()
        inserted, lost = set(rows[0][0]), set(rows[0][1])
        stored = {row[2]: (row[3], row[4]) for row in rows if row[2] is not None}
        revs = {row[2]: row[5] for row in rows if row[2] is not None}
        decide = [entry for name, entry in given.items() if name in stored or name in lost]
        plan = storekit.plan_static_sync(decide, stored, kept, now, default_tz)
        written: set[str] = set()
        deleted: set[str] = set()
        if plan.writes or plan.removed:
            writes = [(record, revs.get(record.entry.name)) for record in plan.writes]
            texts = {str(row["name"]): str(row["entry_json"]) for row in batch}
            removed = {n: revs[n] for n in plan.removed}
            written, deleted = write(conn, sql, writes, removed, texts)
        done = plan.report
        changed = {*done.added, *done.updated, *inserted}
        passes.append(
            SyncReport(
                tuple(n for n in given if n in inserted or (n in done.added and n in written)),
                tuple(n for n in done.updated if n in written),
                tuple(n for n in done.removed if n in deleted),
                tuple(n for n in given if n not in changed),
            )
        )
        if len(written) != len(plan.writes) or len(deleted) != len(plan.removed):
            raise Conflict
        return merged(passes)


def _row(entry: Entry, now: datetime, default_tz: str | tzinfo | None) -> dict[str, object]:
    """An entry of the statement: its definition's text and, for a new name, its state."""
    try:
        state = timing.state_after_save(None, None, entry, now, default_tz)
    except ENTRY_ERRORS:
        state = None  # the kit decides it (and says what is wrong), if it is new
    return {
        "name": entry.name,
        "entry_json": serializer.dumps_entry(entry),
        "state_json": None if state is None else serializer.dumps_state(state),
        "enabled": entry.enabled,
        "static": entry.static,
        "next_run_at": None if state is None else instant(state.next_run_at),
        "due_at": None if state is None else instant(timing.state_due_at(entry, state)),
    }


def merged(passes: Sequence[SyncReport]) -> SyncReport:
    """One report of a static sync that took several passes (a pass lost a race)."""
    if len(passes) == 1:
        return passes[0]
    added: dict[str, None] = {}
    updated: dict[str, None] = {}
    removed: dict[str, None] = {}
    for report in passes:
        added.update(dict.fromkeys(n for n in report.added if n not in updated))
        updated.update(dict.fromkeys(n for n in report.updated if n not in added))
        removed.update(dict.fromkeys(report.removed))
    changed = added.keys() | updated.keys() | removed.keys()
    unchanged = tuple(n for n in passes[-1].unchanged if n not in changed)
    return SyncReport(tuple(added), tuple(updated), tuple(removed), unchanged)
