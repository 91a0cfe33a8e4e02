"""``celery beatcore status``: leader, tick, counts, unacked runs, health-check exit code."""

from __future__ import annotations

import json

import pytest

from tests.core.cli_app import Cli, clock

HOLDER = "beat-host-1:4242:2026-01-05T11:58:00Z"


def test_no_beat_ever_is_unhealthy(cli: Cli) -> None:
    cli.ok("add", "greet", "proj.hello", "--every", "1m")
    result = cli("status")
    assert result.exit_code == 1
    assert "leader:        none" in result.output
    assert "last tick:     never" in result.output
    assert "entries:       1 (0 unreadable)" in result.output
    assert "health:        FAIL: no beat has ever ticked on this store" in result.output


def test_leader_tick_and_unacked_claim_then_stale(cli: Cli) -> None:
    cli.ok("add", "greet", "proj.hello", "--every", "1m")
    cli.ok("add", "later", "proj.report", "--every", "1h")
    store = cli.store()
    lease = store.lock.acquire(HOLDER, 30)
    assert lease is not None
    clock.advance(61)
    claimed = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    assert [c.entry.name for c in claimed.claims] == ["greet"]  # claimed, never acked
    clock.advance(5)

    out = cli.ok("status")
    lines = dict(line.split(":", 1) for line in out.splitlines() if not line.startswith("  "))
    assert lines["store"].strip() == cli.url
    assert (
        lines["leader"]
        .strip()
        .startswith(
            "beat-host-1 (pid 4242, started 2026-01-05T11:58:00Z), since 2026-01-05 12:00:00 UTC"
        )
    )
    assert lines["fencing token"].strip() == f"{lease.token} (lease ends in 25 s)"
    assert lines["last tick"].strip() == "2026-01-05 12:01:01 UTC (5 s ago)"
    assert lines["entries"].strip() == "2 (0 unreadable)"
    assert lines["next due"].strip() == "later at 2026-01-05 13:00:00 UTC (in 58 min)"
    assert lines["unacked"].strip() == "1"
    assert "  greet: run of 2026-01-05 12:01:00 UTC claimed 5 s ago under token" in out
    assert lines["health"].strip() == "OK: a leader ticked 5 s ago (lock TTL 30 s)"

    data = json.loads(cli.ok("status", "--json"))
    assert data["healthy"] is True
    assert data["leader"]["holder"] == HOLDER and data["leader"]["token"] == lease.token
    assert data["in_flight"][0]["name"] == "greet"
    assert data["last_tick_at"] == "2026-01-05T12:01:01+00:00"

    clock.advance(26)  # 31 s since the last tick: more than the lock TTL
    result = cli("status")
    assert result.exit_code == 1
    assert "health:        FAIL: no leader ticked for 31 s, more than the lock TTL of 30 s" in (
        result.output
    )
    assert "leader:        none" in result.output
    stale = cli("status", "--json")
    assert stale.exit_code == 1 and json.loads(stale.stdout)["healthy"] is False


def test_store_that_does_not_answer_within_the_timeout_exits_3(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from beatcore.stores.memory import MemoryStore
    from beatcore.stores.sqlite import SqliteStore

    cli.ok("add", "greet", "proj.hello", "--every", "1m")
    answer = threading.Event()

    def hanging_status(self: object) -> None:
        answer.wait(30)
        raise RuntimeError("answered too late")

    for kind in (MemoryStore, SqliteStore):
        monkeypatch.setattr(kind, "status", hanging_status)
    try:
        result = cli("status", "--timeout", "0.2")
    finally:
        answer.set()
    assert result.exit_code == 3, result.output
    expected = f"Error: store {cli.url} did not answer within 0.2 s (--timeout)"
    assert result.output.strip() == expected
