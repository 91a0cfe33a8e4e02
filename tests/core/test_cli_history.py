"""``celery beatcore history NAME`` and the last runs ``show`` ends with (memory and SQLite)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from beatcore import Entry, Interval, timing
from beatcore.store import Ack, RunOutcome, RunRecord
from tests.core.cli_app import START, Cli, clock, one_line_error

AT = START + timedelta(seconds=60)
#: The worker's fields of a run it did not report (run tracking off).
NOT_REPORTED = dict.fromkeys(
    ("status", "started_at", "finished_at", "runtime", "error", "worker"), None
) | {"retries": 0}


def record_runs(cli: Cli) -> None:
    """Ack one tick of entry ``a`` that skipped one occurrence and sent the next, 1.5 s late."""
    store = cli.store()
    try:
        store.save(Entry(name="a", task="proj.hello", schedule=Interval(60)))
        store.save(Entry(name="quiet", task="proj.hello", schedule=Interval(60)))
        lease = store.lock.acquire("tests:1", 30)
        assert lease is not None
        (claim,) = [
            c for c in store.claim_due(lease, AT, limit=10, reclaim_after=30).claims
            if c.entry.name == "a"
        ]  # fmt: skip
        runs = (
            RunRecord(START, timing.task_id("a", START), "skipped", "missed, catch_up=latest"),
            RunRecord(
                AT, timing.task_id("a", AT), "sent", sent_at=AT + timedelta(seconds=1.5),
                lateness=1.5,
            ),
        )  # fmt: skip
        store.ack(lease, [Ack("a", claim.state, claim.state, AT + timedelta(hours=1), runs=runs)])
        store.lock.release(lease)
    finally:
        store.close()


def test_history_lists_the_runs_newest_first(cli: Cli) -> None:
    record_runs(cli)
    out = cli.ok("history", "a")
    lines = out.splitlines()
    assert lines[0] == "runs of a, newest first:"
    assert lines[1].split() == [
        "OCCURRENCE", "SENT", "LATE", "OUTCOME", "RUNTIME", "TASK", "ID", "DETAIL",
    ]  # fmt: skip
    assert "sent" in lines[2] and "1.500 s" in lines[2] and timing.task_id("a", AT) in lines[2]
    assert "2026-01-05 13:01:01 CET" in lines[2]  # sent at, in the entry's zone
    assert lines[2].startswith("  2026-01-05 13:01:00 CET")  # the app's zone, Paris
    assert "skipped" in lines[3] and lines[3].endswith("missed, catch_up=latest")
    assert len(lines) == 4
    assert len(cli.ok("history", "a", "--limit", "1").splitlines()) == 3


def test_history_json(cli: Cli) -> None:
    record_runs(cli)
    data = json.loads(cli.ok("history", "a", "--json"))
    assert data == {
        "name": "a",
        "runs": [
            {
                "occurrence": "2026-01-05T12:01:00+00:00",
                "task_id": timing.task_id("a", AT),
                "outcome": "sent",
                "detail": None,
                "sent_at": "2026-01-05T12:01:01.500000+00:00",
                "late_seconds": 1.5,
                **NOT_REPORTED,
            },
            {
                "occurrence": "2026-01-05T12:00:00+00:00",
                "task_id": timing.task_id("a", START),
                "outcome": "skipped",
                "detail": "missed, catch_up=latest",
                "sent_at": None,
                "late_seconds": None,
                **NOT_REPORTED,
            },
        ],
    }
    assert json.loads(cli.ok("history", "quiet", "--json")) == {"name": "quiet", "runs": []}


def test_an_entry_that_never_ran_and_one_that_does_not_exist(cli: Cli) -> None:
    record_runs(cli)
    assert cli.ok("history", "quiet").splitlines()[1:] == ["  none recorded"]
    assert "missing" in one_line_error(cli("history", "missing"))


def test_show_ends_with_the_last_runs(cli: Cli) -> None:
    record_runs(cli)
    shown = cli.ok("show", "a", "--runs", "1", "--changes", "0").splitlines()
    at = shown.index("last 1 runs (newest first):")
    assert "sent" in shown[at + 2] and len(shown) == at + 3
    assert "last" not in " ".join(
        cli.ok("show", "a", "--runs", "0", "--changes", "0").splitlines()[-2:]
    )
    data = json.loads(cli.ok("show", "a", "--json"))
    assert [run["outcome"] for run in data["last_runs"]] == ["sent", "skipped"]


def test_list_shows_each_entrys_last_outcome(cli: Cli) -> None:
    record_runs(cli)
    table = cli.ok("list").splitlines()
    header = table[0]
    column = header.index("LAST OUTCOME")
    rows = {line.split()[0]: line[column:].split()[0] for line in table[1:]}
    assert rows == {"a": "sent", "quiet": "-"}
    listed = {item["name"]: item for item in json.loads(cli.ok("list", "--json"))}
    assert listed["a"]["last_outcome"]["outcome"] == "sent"
    assert listed["a"]["last_outcome"]["late_seconds"] == 1.5
    assert listed["quiet"]["last_outcome"] is None


def test_history_and_show_say_what_the_worker_reported(cli: Cli) -> None:
    """The operator's questions: did the last run succeed, how long did it take, and is a
    slow run still going (how long so far); from what the worker reported of each run."""
    record_runs(cli)
    store = cli.store()
    try:
        second = AT + timedelta(minutes=1)
        store.trigger("a", second)
        lease = store.lock.acquire("tests:1", 30)
        assert lease is not None
        (claim,) = [
            c for c in store.claim_due(lease, second, limit=10, reclaim_after=30).claims
            if c.entry.name == "a"
        ]  # fmt: skip
        run = RunRecord(second, timing.task_id("a", second), "sent", sent_at=second, lateness=0.2)
        store.ack(lease, [Ack("a", claim.state, claim.state, None, runs=(run,))])
        store.lock.release(lease)

        def report(at: datetime, status: str, when: datetime, **facts: Any) -> None:
            store.record_outcome(
                RunOutcome("a", at, timing.task_id("a", at), status, when, worker="w1@host",
                           **facts)
            )  # fmt: skip

        report(AT, "started", AT)
        report(AT, "failed", AT + timedelta(seconds=3), runtime=2.5, error="KeyError: 'day'")
        report(second, "started", second)
    finally:
        store.close()
    assert store.records_outcomes  # memory and SQLite keep what workers report
    clock.set(second + timedelta(minutes=5))
    lines = cli.ok("history", "a").splitlines()
    assert "running" in lines[2] and "5 min so far" in lines[2]
    assert "failed" in lines[3] and "2.500 s" in lines[3] and lines[3].endswith("KeyError: 'day'")
    (newest, failed, _) = json.loads(cli.ok("history", "a", "--json"))["runs"]
    assert (newest["status"], newest["runtime"], newest["worker"]) == ("started", None, "w1@host")
    assert (failed["status"], failed["runtime"], failed["error"]) == (
        "failed", 2.5, "KeyError: 'day'",
    )  # fmt: skip
    shown = cli.ok("show", "a", "--runs", "2")
    assert "running" in shown and "5 min so far" in shown
