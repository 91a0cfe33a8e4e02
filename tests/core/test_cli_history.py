"""``celery beatcore history NAME`` and the last runs ``show`` ends with (memory and SQLite)."""

from __future__ import annotations

import json
from datetime import timedelta

from beatcore import Entry, Interval, timing
from beatcore.store import Ack, RunRecord
from tests.core.cli_app import START, Cli, one_line_error

AT = START + timedelta(seconds=60)


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
    assert lines[1].split() == ["OCCURRENCE", "OUTCOME", "LATE", "TASK", "ID", "DETAIL"]
    assert "sent" in lines[2] and "1.500 s" in lines[2] and timing.task_id("a", AT) in lines[2]
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
            },
            {
                "occurrence": "2026-01-05T12:00:00+00:00",
                "task_id": timing.task_id("a", START),
                "outcome": "skipped",
                "detail": "missed, catch_up=latest",
                "sent_at": None,
                "late_seconds": None,
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
