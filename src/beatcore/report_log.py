"""Worker reports kept as a log and applied when read: the store kit's rules of
:mod:`beatcore.outcomes` for a store that writes a report in one round trip without reading
first (Redis, PostgreSQL).

Such a store appends each :class:`~beatcore.store.RunOutcome` to a bounded log per entry
(:func:`report_text`) instead of rewriting the run's record, and applies the log where it
reads: :func:`history_with_reports` gives the history as :func:`outcomes.apply_outcome`
would have left it (each report on the newest record of its task, a report that came before
the ack's record included), :func:`running_with_reports` the running fact as the reports
made it. Both are pure functions of what the store read. What a store must still decide in
its own write is small and needs no record decoded: a report that ends the run an occurrence
is held for (and that run had not ended before) makes the entry due at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from beatcore import outcomes
from beatcore.run_values import RUN_STATUSES, Running, RunOutcome, RunRecord
from beatcore.values import SORTED_JSON

#: Reports kept per run of the history, on average (a start and an end, and room for retries):
#: a store keeps the newest ``REPORTS_PER_RUN * history_size`` reports of an entry, at least
#: :data:`MIN_REPORTS`.
REPORTS_PER_RUN = 3
MIN_REPORTS = 16


def reports_kept(history_size: int) -> int:
    """Return how many reports a store keeps per entry for ``history_size`` records."""
    return max(MIN_REPORTS, REPORTS_PER_RUN * history_size)


def report_text(outcome: RunOutcome) -> str:
    """Return the JSON text a store appends to the entry's log (read by :func:`read_report`)."""
    data: dict[str, object] = {
        "v": 1,
        "occurrence": outcome.occurrence.isoformat(),
        "task_id": outcome.task_id,
        "status": outcome.status,
        "at": outcome.at.isoformat(),
    }
    if outcome.runtime is not None:
        data["runtime"] = round(outcome.runtime, 6)
    for key in ("error", "worker"):
        value = getattr(outcome, key)
        if value is not None:
            data[key] = value
    return SORTED_JSON.encode(data)


def _instant(value: object) -> datetime:
    when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError(f"naive instant {value!r}")
    return when


def read_report(name: str, text: str | bytes) -> RunOutcome | None:
    """Return the report of :func:`report_text` text for entry ``name``, or None when it
    cannot be read (left out: one bad report never stops the others)."""
    try:
        data = json.loads(text)
        status = str(data["status"])
        if status not in RUN_STATUSES:
            return None
        runtime = data.get("runtime")
        error, worker = data.get("error"), data.get("worker")
        return RunOutcome(
            name,
            _instant(data["occurrence"]),
            str(data["task_id"]),
            status,
            _instant(data["at"]),
            runtime=None if runtime is None else float(runtime),
            error=None if error is None else str(error),
            worker=None if worker is None else str(worker),
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
        return None


def _reports(name: str, texts: Iterable[str | bytes]) -> list[RunOutcome]:
    return [r for r in (read_report(name, text) for text in texts) if r is not None]


def history_with_reports(
    name: str,
    history: Sequence[str | bytes],
    reports: Sequence[str | bytes],
    limit: int | None,
) -> list[RunRecord]:
    """Return the history of ``name`` (its record texts and its report log, both oldest
    first) newest first, at most ``limit`` records, each report applied to the newest record
    of its task (:func:`outcomes.record_after_outcome`); a report of no kept record is left
    out, and so is an unreadable record or report."""
    records = [r for r in (RunRecord.from_json(text) for text in history) if r is not None]
    newest: dict[str, int] = {record.task_id: i for i, record in enumerate(records)}
    for report in _reports(name, reports):
        index = newest.get(report.task_id)
        if index is not None:
            records[index] = outcomes.record_after_outcome(records[index], report)
    records.reverse()
    return records if limit is None else records[: max(limit, 0)]


def running_with_reports(
    name: str, fact: Running | None, reports: Iterable[str | bytes]
) -> Running | None:
    """Return the running fact ``fact`` (as the ack wrote it) with the reports of its run in
    the log applied, oldest first (:func:`outcomes.running_after_outcome`)."""
    for report in _reports(name, reports):
        fact, _ = outcomes.running_after_outcome(fact, report)
    return fact


def running_to_write(stored: Running | None, acked: Running | None) -> tuple[Running | None, str]:
    """Return what an ack writes of its running fact ``acked`` (None: leave the stored one)
    and whether its entry is then due at once: ``"due"`` (it is), ``"check"`` (if the log
    holds a final report of the fact's run, which came after ``stored`` was read), ``""``.

    ``stored`` is the fact the entry's claim returned (the log applied): the kit's
    :func:`outcomes.running_after_ack` merges the two.
    """
    if acked is None:
        return None, ""
    merged, due_now = outcomes.running_after_ack(stored, acked, None)
    if due_now:
        return merged, "due"
    return merged, "check" if merged.held is not None and not merged.ended else ""
