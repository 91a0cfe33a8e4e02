"""The store kit's rules for worker reports and the running fact (beatcore.outcomes), the run
values' stored form (old records still read), and a SQLite file of schema 3 migrating."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import attrs

from beatcore import Entry, Interval, outcomes, timing
from beatcore.store import Ack, Running, RunOutcome, RunRecord
from beatcore.stores.sqlite import SqliteStore
from beatcore.stores.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, open_database
from beatcore.testing import FakeClock
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TASK = timing.task_id("a", T0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def report(status: str, seconds: float, **fields: object) -> RunOutcome:
    return RunOutcome("a", T0, TASK, status, at(seconds), **fields)  # type: ignore[arg-type]


def test_a_record_of_an_older_release_reads_with_no_worker_fields() -> None:
    old = (
        '{"lateness": 0.25, "occurrence": "2026-01-05T12:00:00+00:00", "outcome": "sent",'
        ' "sent_at": "2026-01-05T12:00:00.250000+00:00", "task_id": "t", "v": 1}'
    )
    record = RunRecord.from_json(old)
    assert record == RunRecord(T0, "t", "sent", sent_at=at(0.25), lateness=0.25)
    assert record.status is None and record.retries == 0 and not record.finished
    assert record.to_json() == old, "a record without reports is written as before"


def test_worker_fields_round_trip_and_bad_ones_do_not_read() -> None:
    record = RunRecord(
        T0, "t", "sent", status="failed", started_at=at(1), finished_at=at(2), runtime=1.0,
        error="ValueError: x", worker="w1", retries=2,
    )  # fmt: skip
    assert RunRecord.from_json(record.to_json()) == record
    text = record.to_json()
    assert RunRecord.from_json(text.replace('"failed"', '"exploded"')) is None
    assert RunRecord.from_json(text.replace('"retries": 2', '"retries": -1')) is None
    assert RunRecord.from_json(text.replace("+00:00", "", 2)) is None  # naive instants


def test_running_round_trips_and_blocks_until_it_ends_or_times_out() -> None:
    fact = Running(TASK, T0, at(60), 60.0, held=at(10))
    assert Running.from_json(fact.to_json()) == fact
    assert Running.from_json(None) is None
    assert Running.from_json("{") is None
    assert fact.blocks(at(59)) and not fact.blocks(at(60))
    assert not attrs.evolve(fact, ended=True).blocks(at(1))


def test_reports_build_the_record_in_order_and_a_late_start_changes_nothing() -> None:
    record = outcomes.record_after_outcome(None, report("started", 1, worker="w"))
    assert (record.outcome, record.status, record.started_at, record.worker) == (
        "sent", "started", at(1), "w",
    )  # fmt: skip
    record = outcomes.record_after_outcome(record, report("retried", 2, runtime=1.0, error="E: x"))
    record = outcomes.record_after_outcome(record, report("started", 3))
    record = outcomes.record_after_outcome(record, report("succeeded", 5, runtime=2.0))
    assert (record.status, record.retries, record.error, record.started_at, record.runtime) == (
        "succeeded", 1, None, at(1), 2.0,
    )  # fmt: skip
    assert outcomes.record_after_outcome(record, report("started", 4)) == record


def test_only_a_report_of_the_run_named_moves_the_running_fact() -> None:
    fact = Running(TASK, T0, at(60), 60.0)
    assert outcomes.running_after_outcome(fact, report("started", 30)) == (
        attrs.evolve(fact, until=at(90)),
        False,
    )
    assert outcomes.running_after_outcome(fact, report("started", -30)) == (fact, False)
    other = RunOutcome("a", at(-10), "other", "succeeded", at(1))
    assert outcomes.running_after_outcome(fact, other) == (fact, False)
    ended = attrs.evolve(fact, ended=True)
    assert outcomes.running_after_outcome(fact, report("failed", 5)) == (ended, False)
    held = attrs.evolve(fact, held=at(10))
    assert outcomes.running_after_outcome(held, report("succeeded", 5)) == (
        attrs.evolve(held, ended=True),
        True,
    )


def test_an_ack_merges_its_running_fact_with_the_reports() -> None:
    stored = Running(TASK, T0, at(90), 60.0, ended=True)
    hold = Running(TASK, T0, at(60), 60.0, held=at(10))
    assert outcomes.running_after_ack(stored, hold, None) == (
        attrs.evolve(stored, held=at(10)),
        True,
    )
    new = Running("next", at(10), at(70), 60.0)
    assert outcomes.running_after_ack(stored, new, None) == (new, False)
    ended = RunRecord(at(10), "next", "sent", status="succeeded")
    assert outcomes.running_after_ack(stored, new, ended) == (attrs.evolve(new, ended=True), False)


def test_early_reports_are_taken_in_by_the_record_beat_writes() -> None:
    early = outcomes.record_after_outcome(None, report("succeeded", 1, runtime=0.1))
    sent = RunRecord(T0, TASK, "sent", sent_at=at(0.5), lateness=0.5)
    skipped = RunRecord(at(-10), "x", "skipped", "why")
    runs, used = outcomes.with_reports([skipped, sent], {TASK: early.to_json(), "x": "{"})
    assert used == [TASK]
    reported = attrs.evolve(sent, status="succeeded", finished_at=at(1), runtime=0.1)
    assert runs == [skipped, reported]


def test_find_run_reads_only_records_of_the_task(tmp_path: Path) -> None:
    texts = [
        RunRecord(T0, TASK, "sent").to_json(),
        "{not json " + TASK,
        RunRecord(at(1), "other", "sent").to_json(),
    ]
    assert outcomes.find_run(texts, TASK) == 0
    assert outcomes.find_run([t.encode() for t in texts], "other") == 2
    assert outcomes.find_run(texts, "missing") is None


def test_a_schema_3_file_migrates_and_keeps_its_history(tmp_path: Path) -> None:
    """A file of schema 3 (history, no outcomes) opens at the current schema; the history
    it had reads, and a report reaches a record written before the migration."""
    path = tmp_path / "old.sqlite3"
    open_database(path, busy_timeout=1, migrations=MIGRATIONS[:3]).close()
    conn = sqlite3.connect(path)
    entry = '{"v":1,"name":"a","task":"t","schedule":{"type":"interval","every":60.0}}'
    conn.execute(
        "INSERT INTO entries (name, entry_json, state_json) VALUES (?, ?, ?)",
        ("a", entry, '{"v":1}'),
    )
    old = RunRecord(T0, TASK, "sent", sent_at=at(0.5), lateness=0.5)
    conn.execute("INSERT INTO runs (name, seq, record) VALUES ('a', 1, ?)", (old.to_json(),))
    conn.commit()
    conn.close()
    store = SqliteStore(path, clock=FakeClock(T0))
    try:
        assert SCHEMA_VERSION >= 4
        assert store.history("a") == [old]
        store.record_outcome(report("succeeded", 2, runtime=1.5))
        assert store.history("a") == [
            attrs.evolve(old, status="succeeded", finished_at=at(2), runtime=1.5)
        ]
    finally:
        store.close()


def test_early_reports_are_bounded_per_entry(tmp_path: Path) -> None:
    """Reports of runs beat never records (a message of a deleted-and-saved entry, a
    foreign one) keep at most EARLY_LIMIT per entry."""
    clock = FakeClock(T0)
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path, clock=clock)
    try:
        store.save(Entry(name="a", task="t", schedule=Interval(10)))
        for n in range(outcomes.EARLY_LIMIT + 5):
            store.record_outcome(RunOutcome("a", at(n), f"task-{n}", "started", at(n)))
        with sqlite3.connect(path) as conn:
            (count,) = conn.execute("SELECT count(*) FROM early_runs").fetchone()
        assert count == outcomes.EARLY_LIMIT
        lease = store.lock.acquire("t:1", 30)
        assert lease is not None
        clock.set(at(10))
        (claim,) = store.claim_due(lease, at(10), limit=5, reclaim_after=30).claims
        last = outcomes.EARLY_LIMIT + 4
        sent = RunRecord(at(last), f"task-{last}", "sent", sent_at=at(10), lateness=0.0)
        store.ack(lease, [Ack("a", claim.state, claim.state, None, runs=(sent,))])
        started = attrs.evolve(sent, status="started", started_at=at(last))
        assert store.history("a") == [started]
    finally:
        store.close()
