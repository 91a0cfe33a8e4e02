"""What workers report, in a SQLite file: the running fact in ``entries.running``, early
reports in table ``early_runs``; the rules are :mod:`beatcore.outcomes`.

:func:`record_outcome` runs in one write transaction; the ack's own transaction writes the
run records with the early reports taken in and merges the running facts
(:func:`write_acked`); the claim returns each entry's running fact (:func:`decode_claims`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from beatcore import outcomes, storekit
from beatcore.errors import CorruptRecord
from beatcore.store import Ack, Claim, Running, RunOutcome, RunRecord
from beatcore.storekit import Raw
from beatcore.storekit import to_micros as micros
from beatcore.stores.sqlite.database import Database, chunks
from beatcore.stores.sqlite.history import last_runs, write_runs
from beatcore.timeutil import Clock


class OutcomeMethods:
    """``record_outcome`` and ``last_runs`` of :class:`~beatcore.stores.sqlite.SqliteStore`."""

    _db: Database
    clock: Clock
    records_outcomes = True

    def record_outcome(self, outcome: RunOutcome) -> None:
        """Apply a worker's report in one write transaction (see :meth:`Store.record_outcome`)."""
        with self._db.transaction(write=True) as conn:
            record_outcome(conn, outcome, self.clock())

    def last_runs(self, names: Iterable[str]) -> dict[str, RunRecord]:
        """Return the newest run record of each of ``names`` (one read transaction)."""
        with self._db.transaction() as conn:
            return last_runs(conn, names)


def record_outcome(conn: sqlite3.Connection, outcome: RunOutcome, now: datetime) -> None:
    """Apply one report (inside a write transaction); an unknown entry changes nothing."""
    name = outcome.name
    row = conn.execute("SELECT running FROM entries WHERE name = ?", (name,)).fetchone()
    if row is None:
        return
    history = conn.execute(
        "SELECT seq, CAST(record AS BLOB) FROM runs WHERE name = ? ORDER BY seq", (name,)
    ).fetchall()
    early = conn.execute(
        "SELECT CAST(record AS BLOB) FROM early_runs WHERE name = ? AND task_id = ?",
        (name, outcome.task_id),
    ).fetchone()
    write = outcomes.apply_outcome(
        [text for _, text in history],
        None if early is None else early[0],
        Running.from_json(row[0]),
        outcome,
    )
    text = write.record.to_json()
    if write.history_index is not None:
        seq = history[write.history_index][0]
        conn.execute("UPDATE runs SET record = ? WHERE name = ? AND seq = ?", (text, name, seq))
    else:
        conn.execute(
            "INSERT OR REPLACE INTO early_runs (name, task_id, seq, record) VALUES (?, ?,"
            " (SELECT coalesce(max(seq), 0) + 1 FROM early_runs WHERE name = ?), ?)",
            (name, outcome.task_id, name, text),
        )
        conn.execute(
            "DELETE FROM early_runs WHERE name = ? AND seq <="
            " (SELECT max(seq) FROM early_runs WHERE name = ?) - ?",
            (name, name, outcomes.EARLY_LIMIT),
        )
    if write.running_changed:
        running = None if write.running is None else write.running.to_json()
        conn.execute("UPDATE entries SET running = ? WHERE name = ?", (running, name))
    if write.due_now:
        _due_now(conn, [name], now)


def _due_now(conn: sqlite3.Connection, names: Sequence[str], now: datetime) -> None:
    """Make the entries due at ``now`` at the latest, those in the due index only."""
    conn.executemany(
        "UPDATE entries SET due_at = min(due_at, ?) WHERE name = ? AND due_at IS NOT NULL",
        [(micros(now), name) for name in names],
    )


def take_early_reports(conn: sqlite3.Connection, acks: Sequence[Ack]) -> dict[str, Ack]:
    """Return ``acks`` by name with the early reports of their runs taken in (and dropped
    from ``early_runs``); called by the ack's transaction before it writes the history."""
    by_name = {ack.name: ack for ack in acks}
    early: dict[str, dict[str, bytes]] = {}
    for marks, part in chunks([ack.name for ack in acks if ack.runs]):
        for name, task_id, record in conn.execute(
            f"SELECT name, task_id, CAST(record AS BLOB) FROM early_runs WHERE name IN ({marks})",
            part,
        ):
            early.setdefault(name, {})[task_id] = record
    for name, reports in early.items():
        ack = by_name[name]
        runs, used = outcomes.with_reports(ack.runs, reports)
        by_name[name] = _with_runs(ack, runs)
        conn.executemany(
            "DELETE FROM early_runs WHERE name = ? AND task_id = ?", [(name, t) for t in used]
        )
    return by_name


def _with_runs(ack: Ack, runs: Iterable[RunRecord]) -> Ack:
    return attrs.evolve(ack, runs=tuple(runs))


def write_running(
    conn: sqlite3.Connection, acks: Iterable[Ack], reported: Mapping[str, Ack], now: datetime
) -> None:
    """Merge each ack's running fact into the stored one (the entries the ack wrote)."""
    with_running = [ack for ack in acks if ack.running is not None]
    if not with_running:
        return
    due_now: list[str] = []
    writes: list[tuple[str, str]] = []
    for ack in with_running:
        assert ack.running is not None
        row = conn.execute("SELECT running FROM entries WHERE name = ?", (ack.name,)).fetchone()
        if row is None:
            continue
        runs = reported[ack.name].runs if ack.name in reported else ()
        report = next((r for r in runs if r.task_id == ack.running.task_id), None)
        merged, now_due = outcomes.running_after_ack(Running.from_json(row[0]), ack.running, report)
        writes.append((merged.to_json(), ack.name))
        if now_due:
            due_now.append(ack.name)
    conn.executemany("UPDATE entries SET running = ? WHERE name = ?", writes)
    _due_now(conn, due_now, now)


def write_acked(conn: sqlite3.Connection, acks: Sequence[Ack], size: int, now: datetime) -> None:
    """Write the run records and running facts of the acks whose entry the ack wrote
    (inside its transaction): early reports taken in, history bounded to ``size``."""
    reported = take_early_reports(conn, acks)
    write_runs(conn, reported.values(), size)
    write_running(conn, acks, reported, now)


def decode_claims(
    rows: Iterable[tuple[str, Raw, Raw, int, str | None]],
) -> tuple[list[Claim], list[CorruptRecord]]:
    """Split a claim's rows ``(name, definition, state, recovered, running)`` as
    :func:`beatcore.storekit.decode_claims` does, each claim with its running fact."""
    rows = list(rows)
    claims, corrupt = storekit.decode_claims((n, e, s, bool(a)) for n, e, s, a, _ in rows)
    running = {row[0]: row[4] for row in rows if row[4] is not None}
    return (outcomes.with_running(claims, running) if running else claims), corrupt
