"""The leader's calls: claim the due entries and ack them, each one fenced statement.

A claim renews the lease, takes the stale claims and the due entries and marks them in flight
in one statement; it remembers each claimed row's ``rev``. An ack writes, in one statement,
every acked state whose row still has that ``rev`` (nothing changed it in flight). The rows
changed meanwhile are read, merged by the store kit (:func:`beatcore.storekit.merge_ack`) and
written compare-and-set, again one statement for all of them. The statement that writes an
entry's acked state also appends the ack's run records to the entry's history and trims it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import attrs

from beatcore import report_log, serializer, storekit
from beatcore.entry import EntryState
from beatcore.errors import CorruptRecord, EntryNotFound, StoreError
from beatcore.store import Ack, ClaimResult, InFlight, Lease, Running, RunOutcome, RunRecord
from beatcore.timeutil import UTC
from beatcore_postgres.connection import Connection, Cursor
from beatcore_postgres.lock import check_renewed, fenced_params, utc
from beatcore_postgres.statements import Statements, instant, json_rows

#: Merge-and-write passes of one ack before the entries still changing are left in flight
#: (each lost pass means another process wrote the entry in between).
MAX_MERGE_PASSES = 20
_UNKNOWN_REV = -1


class _Item(NamedTuple):
    """One acked entry to write."""

    ack: Ack
    rev: int
    """The rev the write expects."""
    state: EntryState
    due_at: datetime | None
    runs: tuple[RunRecord, ...]
    """The run records to append to its history."""
    running: Running | None
    """Its running fact to write (None: leave it)."""
    due_now: str
    """When it is due at once (see :func:`beatcore.report_log.running_to_write`)."""


def in_flight(row: tuple[Any, ...]) -> InFlight:
    """An :class:`InFlight` from a row of ``Statements.in_flight``."""
    name, token, claimed_at, next_run_at = row
    return InFlight(name, token, claimed_at.astimezone(UTC), utc(next_run_at))


class Scheduling:
    """Claim and ack of one schedule; keeps the ``rev`` of each entry claimed, not yet acked.

    :param sql: the schedule's statements.
    :param url: the masked URL, for messages.
    """

    def __init__(self, sql: Statements, url: str) -> None:
        self._sql = sql
        self._url = url
        self._claimed_revs: dict[str, int] = {}
        self._claimed_running: dict[str, Running] = {}
        self._mutex = threading.Lock()
        self._cursor: Cursor | None = None

    def _cursor_of(self, conn: Connection) -> Cursor:
        """The cursor of the last claim or ack, when it is ``conn``'s (the pool gives the
        leader's thread the same connection tick after tick): a new cursor per statement
        costs about 45 µs of client CPU, a third of what psycopg spends on an idle claim."""
        cursor = self._cursor
        if cursor is None or cursor.connection is not conn or cursor.closed:
            cursor = self._cursor = conn.cursor()
        return cursor

    def claim(
        self, conn: Connection, lease: Lease, now: datetime, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Run :meth:`~beatcore.store.Store.claim_due` on ``conn``: one statement, and one more
        when it took unreadable records (they are set aside: out of flight and of the due
        index, the error noted, the record kept).

        :raises LockLost: ``lease`` is not the current one (nothing was claimed).
        """
        params = fenced_params(lease, tick_at=now)
        params.update(now=now, stale=now - timedelta(seconds=reclaim_after), limit=limit)
        rows = self._cursor_of(conn).execute(self._sql.claim, params).fetchall()
        renewed, last_token, next_due = rows[0][:3]
        check_renewed(lease, renewed, last_token)
        taken = [row for row in rows if row[3] is not None]
        claims, corrupt = storekit.decode_claims((r[3], r[4], r[5], r[7]) for r in taken)
        facts = {
            row[3]: report_log.running_with_reports(row[3], Running.from_json(row[8]), row[9])
            for row in taken
            if row[8] is not None
        }
        if facts:
            claims = [
                attrs.evolve(c, running=facts[c.entry.name]) if facts.get(c.entry.name) else c
                for c in claims
            ]
        with self._mutex:
            self._claimed_revs.update((row[3], row[6]) for row in taken)
            for claim in claims:
                if claim.running is None:
                    self._claimed_running.pop(claim.entry.name, None)
                else:
                    self._claimed_running[claim.entry.name] = claim.running
        if corrupt:
            self._set_aside(conn, lease, corrupt, now)
        return ClaimResult(tuple(claims), tuple(corrupt), utc(next_due))

    def take_revs(self, acks: Sequence[Ack]) -> dict[str, int]:
        """Return (and forget) the ``rev`` each acked entry was claimed at; called once per ack
        call, before its retries."""
        with self._mutex:
            return {ack.name: self._claimed_revs.pop(ack.name, _UNKNOWN_REV) for ack in acks}

    def take_facts(self, acks: Sequence[Ack]) -> dict[str, tuple[Running | None, str]]:
        """Return (and forget the claims' facts) what each ack writes of its running fact,
        merged with the one its claim returned (:func:`beatcore.report_log.running_to_write`);
        called once per ack call, before its retries."""
        with self._mutex:
            claimed = {ack.name: self._claimed_running.pop(ack.name, None) for ack in acks}
        return {
            ack.name: report_log.running_to_write(claimed[ack.name], ack.running) for ack in acks
        }

    def ack(
        self,
        conn: Connection,
        lease: Lease,
        acks: Sequence[Ack],
        revs: Mapping[str, int],
        history_size: int,
        facts: Mapping[str, tuple[Running | None, str]],
        now: datetime,
    ) -> None:
        """Run :meth:`~beatcore.store.Store.ack` on ``conn`` with the revs of :meth:`take_revs`
        and the running facts of :meth:`take_facts`; each ack's runs go to its entry's history
        (the newest ``history_size`` kept), and its running fact to the row, in the statement
        that writes the entry's state; an entry due at once is due at ``now``.

        :raises LockLost: ``lease`` is not the current one (nothing was written).
        :raises StoreError: some entries kept changing through every merge pass (they stay
            in flight and are recovered later).
        """
        items = [
            _Item(ack, revs[ack.name], ack.state, ack.due_at, ack.runs, *facts[ack.name])
            for ack in acks
        ]
        written = self._write(conn, lease, items, history_size, now, exact=False)
        left = [ack for ack in acks if ack.name not in written]
        for _ in range(MAX_MERGE_PASSES):
            if not left:
                return
            left = self._merge(conn, lease, left, history_size, facts, now)
        raise StoreError(
            f"PostgreSQL ack at {self._url}: entries {sorted(a.name for a in left)} kept "
            f"changing; they stay in flight and are recovered later"
        )

    def _write(
        self,
        conn: Connection,
        lease: Lease,
        items: Sequence[_Item],
        history_size: int,
        now: datetime,
        exact: bool,
    ) -> set[str]:
        """Write ``items`` in one fenced statement; return the names written. The runs of each
        item written go to its history in the same statement, its running fact to its row.

        ``exact``: ``due_at`` is final; otherwise a disabled entry without a pending trigger
        is left out of the due index (the scheduler's instant does not know it was disabled).
        """
        params = fenced_params(lease)
        params["rows"] = json_rows(
            {
                "name": item.ack.name,
                "rev": item.rev,
                "state_json": serializer.dumps_state(item.state),
                "next_run_at": instant(item.state.next_run_at),
                "due_at": instant(item.due_at),
                "triggered": item.state.triggered_at is not None,
                "exact": exact,
                "running": None if item.running is None else item.running.to_json(),
                "due_now": item.due_now,
            }
            for item in items
        )
        params["runs"] = json_rows(
            {"name": item.ack.name, "ord": ord_, "record": text}
            for item in items
            for ord_, text in enumerate(storekit.kept_runs(item.runs, history_size), 1)
        )
        params["history_size"] = history_size
        params["now"] = now
        row = self._cursor_of(conn).execute(self._sql.ack, params).fetchone()
        assert row is not None  # a SELECT without FROM returns one row
        check_renewed(lease, row[0], row[1])
        return set(row[2])

    def _merge(
        self,
        conn: Connection,
        lease: Lease,
        acks: Sequence[Ack],
        history_size: int,
        facts: Mapping[str, tuple[Running | None, str]],
        now: datetime,
    ) -> list[Ack]:
        """Merge acks into rows changed in flight; return those that lost their write again.

        A row that is gone was deleted in flight (it stays deleted) or is no longer this
        lease's claim: its ack is dropped. A row no longer claimed (an ack never claimed, or
        one that a lost reply made the store send again after it was written) gets no runs
        and no running fact: the ack that took the claim out of flight wrote them.
        """
        by_name = {ack.name: ack for ack in acks}
        rows = conn.execute(
            self._sql.ack_rows, {"names": json_rows(by_name), "token": lease.token}
        ).fetchall()
        items: list[_Item] = []
        bad: list[CorruptRecord] = []
        for name, entry_raw, state_raw, rev, claimed in rows:
            found = storekit.decode_record(name, entry_raw, state_raw)
            if isinstance(found, CorruptRecord):
                bad.append(found)
                continue
            ack = by_name[name]
            merged = storekit.merge_ack(ack, found)
            fact, due_now = facts[name] if claimed else (None, "")
            runs = ack.runs if claimed else ()
            items.append(_Item(ack, rev, merged.state, merged.due_at, runs, fact, due_now))
        if bad:
            self._set_aside(conn, lease, bad)
        if not items:
            return []
        written = self._write(conn, lease, items, history_size, now, exact=True)
        return [item.ack for item in items if item.ack.name not in written]

    def _set_aside(
        self,
        conn: Connection,
        lease: Lease,
        bad: Sequence[CorruptRecord],
        now: datetime | None = None,
    ) -> None:
        """Take unreadable records out of flight and the due index, noting why and since
        ``now`` (None: the server's now)."""
        params = fenced_params(lease)
        params.update(names=[c.name for c in bad], causes=[c.cause for c in bad], noted_at=now)
        conn.execute(self._sql.set_aside, params)


def read_history(
    conn: Connection, sql: Statements, name: str, limit: int | None
) -> list[RunRecord]:
    """Return the run history of ``name``, newest first (one statement; see
    :meth:`~beatcore.store.Store.history`).

    :raises EntryNotFound: no such entry.
    """
    row = conn.execute(sql.history, {"name": name}).fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    exists, records, reports = row
    if not exists:
        raise EntryNotFound(name)
    return report_log.history_with_reports(name, records, reports, limit)


def record_outcome(
    conn: Connection, sql: Statements, outcome: RunOutcome, history_size: int, now: datetime
) -> None:
    """Append ``outcome`` to its entry's log (see :meth:`~beatcore.store.Store.record_outcome`):
    one statement; a report of an entry that does not exist writes nothing."""
    conn.execute(
        sql.report,
        {
            "name": outcome.name,
            "task_id": outcome.task_id,
            "final": outcome.final,
            "report": report_log.report_text(outcome),
            "kept": report_log.reports_kept(history_size),
            "now": now,
        },
    )
