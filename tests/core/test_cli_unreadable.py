"""Unreadable and overdue entries are loud in ``list``, ``status`` and ``export`` (issue 12
item 3, issue 13 item 2): the good entries are still shown, the bad one is named with why, and
the health check fails while any entry is unreadable or overdue."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from beatcore.store import Store
from beatcore.stores.memory import MemoryStore
from beatcore.testing import plant_memory_record, plant_sqlite_record
from tests.core.cli_app import START, Cli, clock

HOLDER = "beat-host-1:4242:2026-01-05T11:58:00Z"


def plant(store: Store, name: str, entry_raw: str, state_raw: str) -> None:
    if isinstance(store, MemoryStore):
        plant_memory_record(store, name, entry_raw, state_raw, START + timedelta(hours=1))
    else:
        plant_sqlite_record(store, name, entry_raw, state_raw, START + timedelta(hours=1))  # type: ignore[arg-type]


def plant_unreadable_state(cli: Cli) -> None:
    """'victim' has a good definition and a state that cannot be read; 'good' is fine."""
    cli.ok("add", "good", "proj.hello", "--every", "1h")
    cli.ok("add", "victim", "proj.hello", "--every", "1h")
    store = cli.store()
    entry_raw = json.dumps({"v": 1, "name": "victim", "task": "proj.hello",
                            "schedule": {"type": "interval", "every": 3600.0}})  # fmt: skip
    plant(store, "victim", entry_raw, '{"v": 1, "total_run_count": 1e400}')


def lead_and_tick(cli: Cli) -> None:
    store = cli.store()
    lease = store.lock.acquire(HOLDER, 30)
    assert lease is not None
    store.claim_due(lease, clock(), limit=10, reclaim_after=30)


def test_one_unreadable_state_leaves_list_status_and_export_working(cli: Cli) -> None:
    plant_unreadable_state(cli)
    lead_and_tick(cli)

    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    rows = [line.split()[:2] for line in listed.stdout.splitlines()[1:]]
    assert rows == [["good", "every"], ["victim", "UNREADABLE"]]
    assert "warning: stored record of entry 'victim' cannot be read" in listed.stderr

    as_json = cli("list", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert [(item["name"], item["readable"]) for item in data] == [
        ("good", True),
        ("victim", False),
    ]
    assert data[1]["error"] and "victim" not in data[1]["error"]

    status = cli("status")
    assert status.exit_code == 1, status.output
    assert "entries:       2 (1 unreadable)" in status.stdout
    assert "  unreadable 'victim': " in status.stdout
    assert "health:        FAIL: 1 entry cannot be read, so beat never runs it" in status.stdout
    report = json.loads(cli("status", "--json").stdout)
    assert report["healthy"] is False
    assert [item["name"] for item in report["unreadable"]] == ["victim"]

    exported = cli("export")
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.stdout)
    assert [record["entry"]["name"] for record in document["entries"]] == ["good"]
    assert "warning: not exported: stored record of entry 'victim'" in exported.stderr


def test_overdue_entry_is_flagged_and_fails_the_health_check(cli: Cli) -> None:
    cli.ok("add", "late", "proj.hello", "--every", "1m")
    clock.advance(60 + 66)  # due at 12:01, now 66 s past due and nobody sent it

    listed = cli.ok("list")
    assert "OVERDUE 2026-01-05 13:01:00 CET (1 min ago)" in listed
    late = json.loads(cli.ok("list", "--json"))[0]["overdue_by"]
    assert late == pytest.approx(66.0)
    assert "OVERDUE" not in cli.ok("list", "--overdue-after", "2m")

    status = cli("status")
    assert status.exit_code == 1, status.output
    assert "the earliest due run is 66 s overdue, more than 60 s" in status.stdout
    relaxed = cli("status", "--overdue-after", "2m")
    assert "overdue," not in relaxed.stdout
