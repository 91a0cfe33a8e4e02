"""The SQL of the store: one statement per store call, arrays instead of loops.

Each statement here is one round trip however many entries it touches: batches are passed as
arrays and expanded with ``unnest``. Fenced statements start with the lock's ``lease`` CTE
(:data:`beatcore_postgres.lock.LEASE_CTE`) and write only when it returned a row. Writes of a
definition or state are compare-and-set on ``rev``, so no statement holds a row lock beyond
its own execution: management calls never wait for the leader's tick and the leader never
waits for them (its claim skips rows a management write has locked at that instant: they are
still due, and claimed at the next tick).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from beatcore_postgres.lock import LAST_TOKEN, LEASE_CTE
from beatcore_postgres.lock import statement as in_schema


def json_rows(rows: Iterable[Mapping[str, object]] | Iterable[str]) -> str:
    """A batch as one JSON parameter: objects for ``json_to_recordset``, or names.

    Instants are written in ISO 8601 with their offset (read back as ``timestamptz``).
    """
    return json.dumps(list(rows), default=_instant, separators=(",", ":"))


def instant(value: datetime | None) -> str | None:
    """An instant of a batch row as :func:`json_rows` writes it; a row builder calls it itself
    because ``json.dumps`` calling back for each datetime costs a third of a batch's
    encoding (1,000 acks: 19 ms against 64 ms, measured)."""
    return None if value is None else value.isoformat()


def _instant(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not a JSON value of a batch: {value!r}")


# -- scheduling ---------------------------------------------------------------------------------

#: Renew the lease and record the tick, take the stale claims (recovered first) and the due
#: entries up to ``limit``, mark them in flight; one row always, one per claim, each with its
#: running fact and the reports of that fact's run (applied by the caller).
_CLAIM = (
    "WITH "
    + LEASE_CTE
    + """,
    stale AS (
        SELECT name, claimed_at AS at FROM {s}.entries
         WHERE claimed_at <= %(stale)s AND EXISTS (SELECT FROM lease)
         ORDER BY claimed_at, name LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED
    ),
    due AS (
        SELECT name, due_at AS at FROM {s}.entries
         WHERE due_at <= %(now)s AND EXISTS (SELECT FROM lease)
         ORDER BY due_at, name LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED
    ),
    picked AS (
        SELECT name, recovered, rank, at FROM (
            SELECT name, true AS recovered, 0 AS rank, at FROM stale
            UNION ALL
            SELECT name, false, 1, at FROM due
        ) AS candidates
        ORDER BY rank, at, name LIMIT %(limit)s
    ),
    claimed AS (
        UPDATE {s}.entries AS e
           SET due_at = NULL, claim_token = %(token)s, claimed_at = %(now)s,
               claimed_next_run_at = e.next_run_at
          FROM picked AS p
         WHERE e.name = p.name
     RETURNING e.name, e.entry_json, e.state_json, e.rev, p.recovered, p.rank, p.at,
               e.running
    )
    SELECT head.renewed, head.last_token, head.next_due,
           c.name, c.entry_json, c.state_json, c.rev, c.recovered, c.running,
           CASE WHEN c.running IS NOT NULL THEN ARRAY(
               SELECT r.report FROM {s}.reports AS r
                WHERE r.name = c.name AND r.task_id = c.running::json->>'task_id'
                ORDER BY r.seq) END
      FROM (SELECT (SELECT token FROM lease) AS renewed, """
    + LAST_TOKEN
    + """ AS last_token,
                   (SELECT min(due_at) FROM {s}.entries
                     WHERE due_at IS NOT NULL AND name NOT IN (SELECT name FROM picked))
                   AS next_due) AS head
      LEFT JOIN claimed AS c ON true
     ORDER BY c.rank, c.at, c.name
"""
)

#: Take unreadable claimed records out of flight and out of the due index, noting why.
_SET_ASIDE = (
    "WITH "
    + LEASE_CTE
    + """
    UPDATE {s}.entries AS e
       SET due_at = NULL, claim_token = NULL, claimed_at = NULL, claimed_next_run_at = NULL,
           error = bad.cause, error_at = coalesce(e.error_at, %(noted_at)s::timestamptz, now())
      FROM unnest(%(names)s::text[], %(causes)s::text[]) AS bad(name, cause)
     WHERE e.name = bad.name AND e.claim_token = %(token)s AND EXISTS (SELECT FROM lease)
"""
)

#: Write acked states whose row is unchanged since the claim (``rev``); returns the names
#: written. ``due_at`` is the scheduler's, unless the entry is disabled and not triggered
#: (it was disabled while in flight, without another write of its state). ``running`` is the
#: entry's running fact to write (NULL: leave it); ``due_now`` says when the entry is due at
#: once (``'due'``; ``'check'``: if a final report of that fact's run is logged). The run records of
#: the rows written (``runs``: name, ``ord`` from 1, record) are appended to their history
#: and each history is trimmed to its newest ``history_size`` rows, in the same statement
#: (the ``DELETE`` sees the rows from before it, the ``INSERT`` numbers on from them).
_ACK = (
    "WITH "
    + LEASE_CTE
    + """,
    acked AS (
        UPDATE {s}.entries AS e
           SET state_json = a.state_json, next_run_at = a.next_run_at,
               due_at = CASE WHEN a.exact OR e.enabled OR a.triggered THEN
                   CASE WHEN a.due_at IS NOT NULL AND (a.due_now = 'due' OR (
                             a.due_now = 'check' AND EXISTS (
                                 SELECT FROM {s}.reports AS r
                                  WHERE r.name = e.name AND r.final
                                    AND r.task_id = a.running::json->>'task_id')))
                        THEN least(a.due_at, %(now)s::timestamptz) ELSE a.due_at END
               END,
               running = coalesce(a.running, e.running),
               rev = e.rev + 1, claim_token = NULL, claimed_at = NULL,
               claimed_next_run_at = NULL, error = NULL, error_at = NULL
          FROM json_to_recordset(%(rows)s::json)
               AS a(name text, rev bigint, state_json text, next_run_at timestamptz,
                    due_at timestamptz, triggered boolean, exact boolean, running text,
                    due_now text)
         WHERE e.name = a.name AND e.rev = a.rev
           AND (e.claim_token = %(token)s OR e.claim_token IS NULL)
           AND EXISTS (SELECT FROM lease)
     RETURNING e.name
    ),
    fresh AS (
        SELECT * FROM json_to_recordset(%(runs)s::json) AS r(name text, ord bigint, record text)
         WHERE r.name IN (SELECT name FROM acked)
    ),
    grown AS (
        SELECT f.name, max(f.ord) AS added,
               (SELECT coalesce(max(h.seq), 0) FROM {s}.runs AS h WHERE h.name = f.name) AS last
          FROM fresh AS f GROUP BY f.name
    ),
    logged AS (
        INSERT INTO {s}.runs (name, seq, record)
        SELECT f.name, g.last + f.ord, f.record FROM fresh AS f JOIN grown AS g USING (name)
    ),
    trimmed AS (
        DELETE FROM {s}.runs AS h USING grown AS g
         WHERE h.name = g.name AND h.seq <= g.last + g.added - %(history_size)s
    )
    SELECT (SELECT token FROM lease), """
    + LAST_TOKEN
    + """, ARRAY(SELECT name FROM acked)
"""
)

#: Read the rows of acks that found their row changed since the claim (or never claimed:
#: a migration writes run history with an ack, as other stores allow), and whether this
#: lease still holds the claim. A row claimed under another token is not this lease's to ack.
_ACK_ROWS = """
    SELECT name, entry_json, state_json, rev, claim_token IS NOT NULL FROM {s}.entries
     WHERE name IN (SELECT json_array_elements_text(%(names)s::json))
       AND (claim_token = %(token)s OR claim_token IS NULL)
"""

_IN_FLIGHT = """
    SELECT name, claim_token, claimed_at, claimed_next_run_at FROM {s}.entries
     WHERE claimed_at IS NOT NULL ORDER BY claimed_at, name
"""

# -- definitions -------------------------------------------------------------------------------

_ROW = "SELECT entry_json, state_json, rev FROM {s}.entries WHERE name = %(name)s"
#: Whether the entry exists, its run history and its log of worker reports, oldest first.
_HISTORY = """
    SELECT EXISTS (SELECT FROM {s}.entries WHERE name = %(name)s),
           ARRAY(SELECT record FROM {s}.runs WHERE name = %(name)s ORDER BY seq),
           ARRAY(SELECT report FROM {s}.reports WHERE name = %(name)s ORDER BY seq)
"""

#: Append a worker's report to an existing entry's log, keeping the newest ``kept``; a final
#: report of the run an occurrence is held for (the running fact names it, with ``held``, not
#: ended), when none came before, makes the entry due at ``now`` (the store's clock) if it is
#: in the due index.
_REPORT = """
    WITH e AS (
        SELECT name, running::json AS fact FROM {s}.entries WHERE name = %(name)s
    ),
    logged AS (
        INSERT INTO {s}.reports (name, task_id, final, report)
        SELECT name, %(task_id)s, %(final)s, %(report)s FROM e
    ),
    trimmed AS (
        DELETE FROM {s}.reports AS r
         WHERE r.name = %(name)s AND r.seq <= (
               SELECT seq FROM {s}.reports WHERE name = %(name)s
                ORDER BY seq DESC OFFSET %(kept)s - 1 LIMIT 1)
    ),
    due AS (
        UPDATE {s}.entries AS x SET due_at = least(x.due_at, %(now)s::timestamptz)
          FROM e
         WHERE x.name = e.name AND x.due_at IS NOT NULL AND %(final)s
           AND e.fact->>'task_id' = %(task_id)s AND e.fact->>'held' IS NOT NULL
           AND NOT coalesce((e.fact->>'ended')::boolean, false)
           AND NOT EXISTS (
               SELECT FROM {s}.reports AS r
                WHERE r.name = e.name AND r.task_id = %(task_id)s AND r.final)
    )
    SELECT count(*) FROM e
"""
_ENTRY = "SELECT entry_json FROM {s}.entries WHERE name = %(name)s"
_STATE = "SELECT state_json FROM {s}.entries WHERE name = %(name)s"
_ALL_ENTRIES = "SELECT name, entry_json FROM {s}.entries ORDER BY name"
_ALL_RECORDS = "SELECT name, entry_json, state_json FROM {s}.entries ORDER BY name"
_DELETE = """
    WITH deleted AS (DELETE FROM {s}.entries WHERE name = %(name)s RETURNING 1)
    SELECT pg_notify('{channel}', '') FROM deleted
"""

#: Insert new entries, overwrite changed ones (compare-and-set on ``rev``; ``rev`` NULL: the
#: name must be new) and delete entries unchanged since they were read (the static sync's
#: removals); an in-flight entry stays out of the due index until its ack. Returns the names
#: written and the names deleted. A write that changed something announces it on the
#: schedule's channel (delivered at commit: see :mod:`.notify`).
_WRITE = """
    WITH w AS (
        SELECT * FROM json_to_recordset(%(rows)s::json)
               AS w(name text, rev bigint, entry_json text, state_json text, enabled boolean,
                    static boolean, next_run_at timestamptz, due_at timestamptz)
    ),
    updated AS (
        UPDATE {s}.entries AS e
           SET entry_json = w.entry_json, state_json = w.state_json, enabled = w.enabled,
               static = w.static, next_run_at = w.next_run_at,
               due_at = CASE WHEN e.claimed_at IS NULL THEN w.due_at END,
               rev = e.rev + 1, error = NULL, error_at = NULL
          FROM w
         WHERE e.name = w.name AND e.rev = w.rev
     RETURNING e.name
    ),
    inserted AS (
        INSERT INTO {s}.entries AS e
               (name, entry_json, state_json, enabled, static, next_run_at, due_at)
        SELECT name, entry_json, state_json, enabled, static, next_run_at, due_at
          FROM w WHERE w.rev IS NULL
            ON CONFLICT (name) DO NOTHING
     RETURNING e.name
    ),
    deleted AS (
        DELETE FROM {s}.entries AS e
         USING json_to_recordset(%(deletes)s::json) AS d(name text, rev bigint)
         WHERE e.name = d.name AND e.rev = d.rev
     RETURNING e.name
    )
    SELECT ARRAY(SELECT name FROM updated UNION ALL SELECT name FROM inserted),
           ARRAY(SELECT name FROM deleted),
           (SELECT count(pg_notify('{channel}', '')) FROM (
                SELECT 1 FROM updated UNION ALL SELECT 1 FROM inserted
                UNION ALL SELECT 1 FROM deleted LIMIT 1) AS changed)
"""

#: The rows of the given names (save_many).
_NAMED_ROWS = """
    SELECT name, entry_json, state_json, rev FROM {s}.entries
     WHERE name IN (SELECT json_array_elements_text(%(names)s::json))
"""

_UNREADABLE = """
    SELECT name, error, error_at FROM {s}.entries WHERE error IS NOT NULL ORDER BY name
"""
_ERROR_SINCE = "SELECT name, error_at FROM {s}.entries WHERE error_at IS NOT NULL"
#: The records taken out as unreadable, not in flight, with the rev they were read at.
_SET_ASIDE_ROWS = """
    SELECT name, entry_json, state_json, rev FROM {s}.entries
     WHERE error IS NOT NULL AND claimed_at IS NULL ORDER BY name
"""
#: Put records back in the due index (compare-and-set on ``rev``); returns the names.
_REVIVE = """
    UPDATE {s}.entries AS e SET due_at = r.due_at, error = NULL, error_at = NULL
      FROM unnest(%(names)s::text[], %(revs)s::bigint[], %(dues)s::timestamptz[])
           AS r(name, rev, due_at)
     WHERE e.name = r.name AND e.rev = r.rev AND e.error IS NOT NULL
 RETURNING e.name
"""
_RECORD_BEAT = """
    INSERT INTO {s}.beat (id, info) VALUES (1, %(info)s)
        ON CONFLICT (id) DO UPDATE SET info = excluded.info
"""
_BEAT_INFO = "SELECT info FROM {s}.beat WHERE id = 1"

_STATUS = """
    SELECT l.holder, l.token, l.acquired_at, l.expires_at, l.expires_at > now(), l.last_tick_at,
           (SELECT count(*) FROM {s}.entries),
           (SELECT min(due_at) FROM {s}.entries WHERE due_at IS NOT NULL)
      FROM {s}.leadership AS l WHERE l.id = 1
"""


@attrs.frozen
class Statements:
    """Every statement of the store, with the schema's name filled in."""

    claim: str
    set_aside: str
    ack: str
    ack_rows: str
    in_flight: str
    row: str
    history: str
    report: str
    entry: str
    state: str
    all_entries: str
    all_records: str
    delete: str
    write: str
    named_rows: str
    unreadable: str
    error_since: str
    set_aside_rows: str
    revive: str
    record_beat: str
    beat_info: str
    status: str

    @classmethod
    def for_schema(cls, schema: str, channel: str) -> Statements:
        """The statements of the schedule in ``schema``, announcing changes on ``channel``."""

        def statement(template: str, schema: str) -> str:
            return in_schema(template, schema).replace("{channel}", channel)

        return cls(
            claim=statement(_CLAIM, schema),
            set_aside=statement(_SET_ASIDE, schema),
            ack=statement(_ACK, schema),
            ack_rows=statement(_ACK_ROWS, schema),
            in_flight=statement(_IN_FLIGHT, schema),
            row=statement(_ROW, schema),
            history=statement(_HISTORY, schema),
            report=statement(_REPORT, schema),
            entry=statement(_ENTRY, schema),
            state=statement(_STATE, schema),
            all_entries=statement(_ALL_ENTRIES, schema),
            all_records=statement(_ALL_RECORDS, schema),
            delete=statement(_DELETE, schema),
            write=statement(_WRITE, schema),
            named_rows=statement(_NAMED_ROWS, schema),
            unreadable=statement(_UNREADABLE, schema),
            error_since=statement(_ERROR_SINCE, schema),
            set_aside_rows=statement(_SET_ASIDE_ROWS, schema),
            revive=statement(_REVIVE, schema),
            record_beat=statement(_RECORD_BEAT, schema),
            beat_info=statement(_BEAT_INFO, schema),
            status=statement(_STATUS, schema),
        )
