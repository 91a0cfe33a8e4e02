"""The kit's rules for a log of worker reports applied where read (beatcore.report_log)."""

from __future__ import annotations

from datetime import timedelta

import attrs

from beatcore import outcomes, report_log
from beatcore.store import RunRecord
from beatcore.testing.contract.outcomes import OCC, report, running, sent_record


def test_a_report_reads_back_and_an_unreadable_one_is_none() -> None:
    outcome = report("a", "failed", OCC, runtime=1.5, error="ValueError: x", worker="w1")
    assert report_log.read_report("a", report_log.report_text(outcome)) == outcome
    assert report_log.read_report("a", report_log.report_text(report("a", "started", OCC))) == (
        report("a", "started", OCC)
    )
    for bad in ("{", "[]", '{"v": 1}', '{"status": "exploded"}', b"\xff"):
        assert report_log.read_report("a", bad) is None


def test_the_history_is_what_apply_outcome_leaves_whenever_the_reports_came() -> None:
    """Each report goes to the newest record of its task, as the eager rules put it; an early
    report (before the ack's record) reaches the record all the same."""
    record = sent_record("a", OCC)
    older = RunRecord(OCC - timedelta(seconds=10), "older", "sent")
    reports = [report("a", "started", OCC), report("a", "succeeded", OCC, runtime=2.0)]
    texts = [report_log.report_text(r) for r in reports] + ["{garbage"]
    stored = [older.to_json(), "{bad record", record.to_json()]
    wanted = record
    for outcome in reports:
        wanted = outcomes.record_after_outcome(wanted, outcome)
    assert report_log.history_with_reports("a", stored, texts, None) == [wanted, older]
    assert report_log.history_with_reports("a", stored, texts, 1) == [wanted]
    assert report_log.history_with_reports("a", stored, texts, 0) == []
    assert report_log.history_with_reports("a", [], texts, None) == []


def test_the_running_fact_follows_the_reports_of_its_run_only() -> None:
    fact = running("a", OCC)
    other = attrs.evolve(report("a", "succeeded", OCC), task_id="another run")
    started = report("a", "started", OCC + timedelta(seconds=30))
    texts = [report_log.report_text(r) for r in (other, started)]
    moved = report_log.running_with_reports("a", fact, texts)
    assert moved == attrs.evolve(fact, until=started.at + timedelta(seconds=fact.limit))
    ended = report_log.running_with_reports(
        "a", fact, [*texts, report_log.report_text(report("a", "failed", OCC))]
    )
    assert ended is not None and ended.ended
    assert report_log.running_with_reports("a", None, texts) is None


def test_what_an_ack_writes_of_its_running_fact() -> None:
    fact = running("a", OCC)
    held = attrs.evolve(fact, held=OCC + timedelta(seconds=10))
    assert report_log.running_to_write(fact, None) == (None, "")
    assert report_log.running_to_write(None, fact) == (fact, "")
    assert report_log.running_to_write(fact, held) == (held, "check")
    done = attrs.evolve(fact, ended=True)
    assert report_log.running_to_write(done, held) == (attrs.evolve(done, held=held.held), "due")
