"""The store's compare-and-set writes: one statement writes and deletes a batch of rows.

Every write of a definition or state names the ``rev`` its row was read at (None: the name
must be new), so a row another process wrote in between is left alone and reported as not
written; the caller reads it again and decides again (:class:`Conflict` makes the store's
compare-and-set loop retry). The decisions are the store kit's (:mod:`beatcore.storekit`):
:func:`save_batch` is one pass of ``save_many`` (the static sync's is in :mod:`.static_sync`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from beatcore import serializer, storekit, timing
from beatcore.batch import ENTRY_ERRORS
from beatcore.entry import Entry, EntryState
from beatcore.storekit import Record
from beatcore_postgres.connection import Connection
from beatcore_postgres.statements import Statements, instant, json_rows


class Conflict(Exception):
    """A compare-and-set write lost to a concurrent write: read again and retry."""


def write(
    conn: Connection,
    sql: Statements,
    writes: Sequence[tuple[Record, int | None]],
    deletes: Mapping[str, int] | None = None,
    definitions: Mapping[str, str] | None = None,
) -> tuple[set[str], set[str]]:
    """Write records and delete rows in one statement, compare-and-set on ``rev``.

    ``writes`` pairs each record with the ``rev`` it was read at (None: a new name);
    ``deletes`` maps names to delete to theirs; ``definitions`` holds the text of
    definitions the caller encoded already, by name. Returns the names written and deleted:
    one missing lost to a concurrent write.
    """
    texts = definitions or {}
    rows = json_rows(
        {
            "name": entry.name,
            "rev": rev,
            "entry_json": texts.get(entry.name) or serializer.dumps_entry(entry),
            "state_json": serializer.dumps_state(state),
            "enabled": entry.enabled,
            "static": entry.static,
            "next_run_at": instant(state.next_run_at),
            "due_at": instant(timing.state_due_at(entry, state)),
        }
        for (entry, state), rev in writes
    )
    gone = json_rows({"name": name, "rev": rev} for name, rev in (deletes or {}).items())
    row = conn.execute(sql.write, {"rows": rows, "deletes": gone}).fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    return set(row[0]), set(row[1])


def save_batch(
    conn: Connection,
    sql: Statements,
    pending: list[Entry],
    states: dict[str, EntryState],
    refused: dict[str, str],
    now: datetime,
    default_tz: str | tzinfo | None,
) -> None:
    """One pass of ``save_many``: read the rows of ``pending``, decide each save, write the
    changes. Fills ``states`` and ``refused``; leaves in ``pending`` the entries that lost
    their write to another process and raises :class:`Conflict` when there are any."""
    names = [entry.name for entry in pending]
    rows = conn.execute(sql.named_rows, {"names": json_rows(names)}).fetchall()
    stored = {name: (e, s, rev) for name, e, s, rev in rows}
    writes: list[tuple[Record, int | None]] = []
    for entry in pending:
        found = stored.get(entry.name)
        record = None if found is None else storekit.decode_record(entry.name, *found[:2])
        try:
            state, changed = storekit.decide_save(entry, record, now, default_tz)
        except ENTRY_ERRORS as exc:
            refused[entry.name] = str(exc)
            continue
        if changed:
            writes.append((Record(entry, state), None if found is None else found[2]))
        else:
            states[entry.name] = state
    written = write(conn, sql, writes)[0] if writes else set()
    for record, _ in writes:
        if record.entry.name in written:
            states[record.entry.name] = record.state
    lost = {record.entry.name for record, _ in writes} - written
    pending[:] = [entry for entry in pending if entry.name in lost]
    if pending:
        raise Conflict
