"""``add``/``edit --overlap``: refused while beatcore_track_runs is off, naming both settings;
``list`` shows each entry's last outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from beatcore import timing
from beatcore.store import Ack, RunOutcome, RunRecord
from tests.core.cli_app import START, Cli, app, one_line_error


@pytest.fixture
def tracking_on(cli: Cli) -> Iterator[Cli]:
    app.conf.beatcore_track_runs = True
    yield cli
    app.conf.beatcore_track_runs = None


def test_add_with_an_overlap_policy_needs_run_tracking(cli: Cli) -> None:
    error = one_line_error(cli("add", "slow", "proj.report", "--every", "1m", "--overlap", "skip"))
    assert "overlap='skip'" in error and "beatcore_track_runs = True" in error
    assert cli.store().entries() == []
    cli.ok("add", "slow", "proj.report", "--every", "1m", "--overlap", "allow")
    error = one_line_error(cli("edit", "slow", "--overlap", "buffer_one"))
    assert "beatcore_track_runs" in error
    assert cli.store().get("slow").overlap == "allow"


def test_add_and_edit_set_the_policy_and_its_timeout(tracking_on: Cli) -> None:
    cli = tracking_on
    cli.ok("add", "slow", "proj.report", "--every", "1m", "--overlap", "skip",
           "--overlap-timeout", "10m")  # fmt: skip
    entry = cli.store().get("slow")
    assert (entry.overlap, entry.overlap_timeout) == ("skip", 600.0)
    out = cli.ok("edit", "slow", "--overlap", "buffer_one", "--overlap-timeout", "0")
    assert "overlap" in out and "overlap_timeout" in out
    entry = cli.store().get("slow")
    assert (entry.overlap, entry.overlap_timeout) == ("buffer_one", None)


def test_list_shows_the_last_outcome(cli: Cli) -> None:
    cli.ok("add", "ran", "proj.report", "--every", "1m")
    cli.ok("add", "never", "proj.report", "--every", "1m")
    store = cli.store()
    lease = store.lock.acquire("t:1", 30)
    assert lease is not None
    now = START.replace(minute=5)
    (claim, _) = store.claim_due(lease, now, limit=5, reclaim_after=30).claims
    occ = claim.state.next_run_at
    assert occ is not None
    task_id = timing.task_id("ran", occ)
    record = RunRecord(occ, task_id, "sent", sent_at=now, lateness=1.0)
    store.ack(lease, [Ack("ran", claim.state, claim.state, None, runs=(record,))])
    out = cli.ok("list")
    assert "LAST" in out.splitlines()[0]
    assert "sent" in next(line for line in out.splitlines() if line.startswith("ran"))
    store.record_outcome(RunOutcome("ran", occ, task_id, "failed", now, 2.0, "ValueError: x"))
    out = cli.ok("list")
    assert "failed" in next(line for line in out.splitlines() if line.startswith("ran"))
    assert "failed" not in next(line for line in out.splitlines() if line.startswith("never"))


def test_operations_refuse_a_policy_without_tracking_also_on_import() -> None:
    """beatcore.operations (the CLI's and the web's): save refuses with ChangeRefused kind
    "overlap"; an import refuses that entry and writes the others."""
    from celery import Celery

    from beatcore import ChangeRefused, Entry, Interval, connect
    from beatcore.operations import Operations

    plain_app = Celery("ops-overlap", set_as_current=False)
    store = connect(f"memory://ops-overlap-{id(plain_app)}")
    ops = Operations(store, app=plain_app)
    slow = Entry(name="slow", task="t", schedule=Interval(10), overlap="buffer_one")
    with pytest.raises(ChangeRefused, match="beatcore_track_runs") as refused:
        ops.save(slow, by="tests")
    assert (refused.value.kind, refused.value.field) == ("overlap", "overlap")
    result = ops.import_entries([slow, slow.evolve(name="plain", overlap="allow")], by="tests")
    assert list(result.refused) == ["slow"] and "beatcore_track_runs" in result.refused["slow"]
    assert [entry.name for entry in store.entries()] == ["plain"]
    plain_app.conf.beatcore_track_runs = True
    assert ops.save(slow, by="tests").action == "added"
