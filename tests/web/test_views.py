"""What the pages show of a run: beat's outcome, and the worker's report where there is one."""

from __future__ import annotations

from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.store import RunRecord
from beatcore_web.views import outcome_text, runs_json, worker_report

from .conftest import START

ENTRY = Entry("report", "proj.report", Interval(60))


def test_a_run_beat_sent_without_a_report() -> None:
    run = RunRecord(START, "id-1", "sent", sent_at=START, lateness=0.01)
    assert worker_report(run) == {}
    assert outcome_text(run) == "sent"
    (shown,) = runs_json([run], ENTRY, "UTC")
    assert shown["outcome_text"] == "sent" and "status" not in shown


def test_a_run_the_worker_reported() -> None:
    """A record of a store that records outcomes carries the worker's fields."""
    run = RunRecord(
        START,
        "id-2",
        "sent",
        sent_at=START,
        lateness=0.0,
        status="failed",
        started_at=START,
        finished_at=START,
        runtime=1.25,
        error="ValueError: bad day",
        worker="celery@host",
    )
    assert outcome_text(run) == "failed"
    (shown,) = runs_json([run], ENTRY, "UTC")
    assert shown["status"] == "failed" and shown["runtime"] == 1.25
    assert shown["error"] == "ValueError: bad day"
    assert shown["started_at"] == START.isoformat()
    assert shown["retries"] == 0 and shown["worker"] == "celery@host"
