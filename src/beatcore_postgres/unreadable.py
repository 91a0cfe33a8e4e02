"""Records a tick found unreadable: listed with since when, and revived once they read.

A claim (or an ack) that cannot read a record takes it out of the due index and notes why
and since when (``error``, ``error_at``); the record itself is kept as it is. A process with
other plugins may read it well; :func:`revive` puts back those that read now, due at their
stored due time, compare-and-set on ``rev`` so a concurrent write wins.
"""

from __future__ import annotations

from datetime import datetime

from beatcore import storekit, timing
from beatcore.errors import CorruptRecord
from beatcore_postgres.connection import Connection
from beatcore_postgres.lock import utc
from beatcore_postgres.statements import Statements


def corrupt_records(conn: Connection, sql: Statements) -> list[CorruptRecord]:
    """Every record that does not read here, with since when a tick noted it (if it did)."""
    rows = conn.execute(sql.all_records).fetchall()
    errors = storekit.list_corrupt((name, e, s) for name, e, s in rows)
    if errors:
        since: dict[str, datetime] = dict(conn.execute(sql.error_since).fetchall())
        for error in errors:
            error.since = utc(since.get(error.name))
    return errors


def unreadable_records(conn: Connection, sql: Statements) -> list[CorruptRecord]:
    """The records a tick took out as unreadable, as it noted them, sorted by name."""
    rows = conn.execute(sql.unreadable).fetchall()
    return [CorruptRecord(name, error, utc(error_at)) for name, error, error_at in rows]


def revive(conn: Connection, sql: Statements, now: datetime) -> list[str]:
    """Put back the records taken out as unreadable that read now; return their names.

    One read and one write whatever their number. ``now`` is not needed by the rule (an
    entry is due at its stored due time, at once if that passed) but kept for the interface.
    """
    del now
    names, revs, dues = [], [], []
    for name, entry_raw, state_raw, rev in conn.execute(sql.set_aside_rows).fetchall():
        found = storekit.decode_record(name, entry_raw, state_raw)
        if isinstance(found, CorruptRecord):
            continue
        names.append(name)
        revs.append(rev)
        dues.append(timing.state_due_at(found.entry, found.state))
    if not names:
        return []
    rows = conn.execute(sql.revive, {"names": names, "revs": revs, "dues": dues}).fetchall()
    return sorted(row[0] for row in rows)
