"""The run history in a SQLite file: table ``runs``, one row per record, per entry in order.

Written by the ack's own transaction (:func:`write_runs`), read by ``Store.history``; the
rules (which records are kept, how they read) are the store kit's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from beatcore import storekit
from beatcore.store import Ack, RunRecord


def write_runs(conn: sqlite3.Connection, acks: Iterable[Ack], size: int) -> None:
    """Append each ack's runs to its entry's history and drop all but the newest ``size``.

    Called inside the ack's write transaction, for the acks whose entry was written.
    """
    rows = [
        (ack.name, ack.name, text) for ack in acks for text in storekit.kept_runs(ack.runs, size)
    ]
    if not rows:
        return
    conn.executemany(
        "INSERT INTO runs (name, seq, record) VALUES (?,"
        " (SELECT coalesce(max(seq), 0) + 1 FROM runs WHERE name = ?), ?)",
        rows,
    )
    names = sorted({name for name, _, _ in rows})
    conn.executemany(
        "DELETE FROM runs WHERE name = ? AND seq <= (SELECT max(seq) FROM runs WHERE name = ?) - ?",
        [(name, name, size) for name in names],
    )


def delete_runs(conn: sqlite3.Connection, names: Sequence[str]) -> None:
    """Drop the history and early reports of deleted entries (inside the deleting
    transaction)."""
    rows = [(name,) for name in names]
    conn.executemany("DELETE FROM runs WHERE name = ?", rows)
    conn.executemany("DELETE FROM early_runs WHERE name = ?", rows)


def read_runs(conn: sqlite3.Connection, name: str, limit: int | None) -> list[RunRecord]:
    """Return the history of ``name``, newest first (see :meth:`Store.history`)."""
    rows = conn.execute(
        "SELECT CAST(record AS BLOB) FROM runs WHERE name = ? ORDER BY seq", (name,)
    ).fetchall()
    return storekit.read_history([row[0] for row in rows], limit)


def last_runs(conn: sqlite3.Connection, names: Iterable[str]) -> dict[str, RunRecord]:
    """Return the newest readable record of each of ``names`` that has one (one query)."""
    wanted = set(names)
    found: dict[str, RunRecord] = {}
    rows = conn.execute(
        "SELECT name, CAST(record AS BLOB) FROM runs WHERE (name, seq) IN"
        " (SELECT name, max(seq) FROM runs GROUP BY name)"
    )
    for name, raw in rows:
        record = RunRecord.from_json(raw) if name in wanted else None
        if record is not None:
            found[name] = record
    return found
