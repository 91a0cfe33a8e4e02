"""The store kit's rules for what workers report (``beatcore_track_runs``) and for the running
fact of an entry with an overlap policy: pure functions of what a store read, so a store keeps
only atomicity and I/O (as with :mod:`beatcore.storekit`).

A store that records outcomes (:attr:`beatcore.store.Store.records_outcomes`) keeps, per
entry, besides its run history:

- the **running fact**, a :class:`~beatcore.store.Running` written by the ack
  (``Ack.running``, merged by :func:`running_after_ack`), changed by each report
  (:func:`apply_outcome`) and returned with the entry by every claim (``Claim.running``);
- the **early reports**: a worker may report a run before beat's ack wrote its record (a
  fast task ends while beat is still sending the rest of its tick). Such a report is kept
  apart, keyed by task id (at most :data:`EARLY_LIMIT` per entry, the newest), and the ack
  that writes the run's record takes it in (:func:`with_reports`).

One report is one round trip: read the entry's history (newest records first), its early
report of that task and its running fact; write what :func:`apply_outcome` returns; when it
says ``due_now``, make the entry due at once if it is in the due index (``buffer_one``: the
occurrence waiting for that run is sent by the next tick, no polling). A report of an entry
that does not exist changes nothing and raises nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import NamedTuple

import attrs

from beatcore.run_values import Running, RunOutcome, RunRecord
from beatcore.store_values import Claim

#: Most early reports a store keeps per entry (the newest); older ones are dropped.
EARLY_LIMIT = 8


class OutcomeWrite(NamedTuple):
    """What :func:`apply_outcome` decided for one report.

    :param history_index: the position (in the history as given, oldest first) of the record
        to replace with ``record``; None: ``record`` is an early report of ``task_id``.
    :param record: the run's record after the report.
    :param running: the entry's running fact after the report (None: none kept).
    :param running_changed: ``running`` differs from what was read (write it).
    :param due_now: make the entry due at once (if it is in the due index).
    """

    history_index: int | None
    record: RunRecord
    running: Running | None
    running_changed: bool
    due_now: bool


def record_after_outcome(record: RunRecord | None, outcome: RunOutcome) -> RunRecord:
    """Return the run's record with ``outcome`` applied (``record`` None: a new early one).

    A start that comes after the run's end (reports of one run arrive in order, but a
    duplicate may not) changes nothing.
    """
    if record is None:
        record = RunRecord(outcome.occurrence, outcome.task_id, "sent")
    status, at = outcome.status, outcome.at
    if status == "started":
        if record.finished or (record.finished_at is not None and at < record.finished_at):
            return record
        return attrs.evolve(
            record,
            status="started",
            started_at=record.started_at or at,
            worker=outcome.worker or record.worker,
        )
    return attrs.evolve(
        record,
        status=status,
        started_at=record.started_at,
        finished_at=at,
        runtime=outcome.runtime,
        error=outcome.error if status in ("failed", "retried") else None,
        worker=outcome.worker or record.worker,
        retries=record.retries + (status == "retried"),
    )


def with_worker_facts(run: RunRecord, reported: RunRecord) -> RunRecord:
    """Return beat's record ``run`` with the worker's fields of ``reported`` (an early one)."""
    return attrs.evolve(
        run,
        status=reported.status,
        started_at=reported.started_at,
        finished_at=reported.finished_at,
        runtime=reported.runtime,
        error=reported.error,
        worker=reported.worker,
        retries=reported.retries,
    )


def running_after_outcome(
    running: Running | None, outcome: RunOutcome
) -> tuple[Running | None, bool]:
    """Return the running fact after ``outcome`` and whether the entry is due at once.

    Only a report of the run the fact names changes it: a start or retry moves ``until`` to
    the report's time plus ``limit`` (never earlier), an end marks it ended; the end of a run
    with a held occurrence (``buffer_one``) makes the entry due at once.
    """
    if running is None or running.task_id != outcome.task_id or running.ended:
        return running, False
    if outcome.final:
        return attrs.evolve(running, ended=True), running.held is not None
    until = outcome.at + timedelta(seconds=running.limit)
    return (attrs.evolve(running, until=until) if until > running.until else running), False


def running_after_ack(
    stored: Running | None, acked: Running, reported: RunRecord | None
) -> tuple[Running, bool]:
    """Merge the running fact an ack gives into the one stored; say if the entry is due now.

    ``reported`` is the early report of ``acked.task_id``, if the store kept one. When the ack
    names the run already stored (beat held an occurrence for it), the stored run's facts stand
    and only ``held`` comes from the ack: if the run ended while beat was sending, the held
    occurrence is due at once. When it names a new run (beat sent one), that run replaces the
    stored one, already ended if its worker reported the end before the ack.
    """
    if stored is not None and stored.task_id == acked.task_id:
        merged = attrs.evolve(stored, held=acked.held, until=max(stored.until, acked.until))
    else:
        merged = acked
        if reported is not None and reported.finished:
            merged = attrs.evolve(merged, ended=True)
    return merged, merged.ended and merged.held is not None


def with_running(claims: Iterable[Claim], running: Mapping[str, str | bytes]) -> list[Claim]:
    """Return ``claims`` with the running fact of each entry ``running`` has (its text, by
    name); called by ``claim_due`` of a store that keeps them apart from the records."""
    found = []
    for claim in claims:
        text = running.get(claim.entry.name)
        fact = None if text is None else Running.from_json(text)
        found.append(claim if fact is None else attrs.evolve(claim, running=fact))
    return found


def find_run(history: Sequence[str | bytes], task_id: str) -> int | None:
    """Return the position of the newest readable record of ``task_id`` in ``history``
    (oldest first, as stores keep it), or None. Only records holding the id are decoded."""
    found = _find(history, task_id)
    return None if found is None else found[0]


def _find(history: Sequence[str | bytes], task_id: str) -> tuple[int, RunRecord] | None:
    needle = task_id.encode() if history and isinstance(history[0], bytes) else task_id
    for index in range(len(history) - 1, -1, -1):
        text = history[index]
        if needle in text:  # type: ignore[operator]
            record = RunRecord.from_json(text)
            if record is not None and record.task_id == task_id:
                return index, record
    return None


def apply_outcome(
    history: Sequence[str | bytes],
    early: str | bytes | None,
    running: Running | None,
    outcome: RunOutcome,
) -> OutcomeWrite:
    """Decide what one report changes: the run's record, the running fact, the due index.

    :param history: the entry's history texts, oldest first.
    :param early: the early report of ``outcome.task_id`` the store kept, if any.
    :param running: the entry's running fact, if any.
    """
    found = _find(history, outcome.task_id)
    index: int | None = None
    known: RunRecord | None
    if found is not None:
        index, known = found
    else:
        known = None if early is None else RunRecord.from_json(early)
    record = record_after_outcome(known, outcome)
    after, due_now = running_after_outcome(running, outcome)
    return OutcomeWrite(index, record, after, after != running, due_now)


def with_reports(
    runs: Iterable[RunRecord], early: Mapping[str, str | bytes]
) -> tuple[list[RunRecord], list[str]]:
    """Return an ack's run records with the early reports of their tasks taken in, and the
    task ids of the early reports used (the store drops those). Called by ``ack`` for each
    acked entry that has early reports."""
    merged: list[RunRecord] = []
    used: list[str] = []
    for run in runs:
        text = early.get(run.task_id) if run.outcome in ("sent", "resent") else None
        reported = None if text is None else RunRecord.from_json(text)
        if reported is None:
            merged.append(run)
            continue
        merged.append(with_worker_facts(run, reported))
        used.append(run.task_id)
    return merged, used
