"""``celery beatcore`` add/edit/list/show/remove/enable/disable/trigger through Celery's command."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from beatcore import Clocked, Crontab, Entry, EntryNotFound, Interval
from beatcore.timeutil import UTC
from tests.core.cli_app import START, Cli, clock, one_line_error


def test_add_every_with_all_options_and_show_it(cli: Cli) -> None:
    out = cli.ok(
        "add", "greet", "proj.hello", "--every", "5m", "--args", '["ada"]',
        "--kwargs", '{"loud": true}', "--queue", "fast", "--jitter", "10s",
        "--catch-up", "all", "--start", "2026-01-05 14:00", "--end", "2026-02-01T00:00:00Z",
        "--max-runs", "10", "--misfire-grace", "1m",
    )  # fmt: skip
    assert out.startswith("added 'greet': every 5 minutes, task proj.hello; next run ")
    entry = cli.store().get("greet")
    assert entry.schedule == Interval(300)
    assert entry.args == ("ada",)
    assert entry.kwargs == {"loud": True}
    assert entry.options == {"queue": "fast"}
    assert (entry.jitter, entry.catch_up, entry.max_runs, entry.misfire_grace) == (
        10.0, "all", 10, 60.0,
    )  # fmt: skip
    # A time without offset is wall time in the app's zone (Paris, UTC+1 in January).
    assert entry.start_at == datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
    assert entry.end_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert not entry.static and entry.enabled

    shown = cli.ok("show", "greet", "--next", "3", "--changes", "0")
    assert "task:          proj.hello" in shown
    assert 'kwargs:        {"loud": true}' in shown
    assert "next 3 runs:" in shown
    runs = [line for line in shown.splitlines() if line.startswith("  2026")]
    assert len(runs) == 3
    # First run one period after the start (14:00 Paris), jitter shown, in the app's zone.
    assert runs[0].startswith("  2026-01-05 14:05:0")
    assert "CET (in 1 h 5 min" in runs[0] and "jitter +" in runs[0]


def test_add_cron_in_a_zone_is_described_in_words(cli: Cli) -> None:
    cli.ok("add", "report", "proj.report", "--cron", "0 9 * * MON-FRI", "--tz", "America/New_York")
    entry = cli.store().get("report")
    assert entry.schedule == Crontab("0 9 * * MON-FRI")
    assert entry.tz == "America/New_York"
    listing = cli.ok("list")
    assert "at 09:00 Mon-Fri, America/New_York" in listing
    # Monday 12:00 UTC is 07:00 in New York: the next run is 09:00 there, in two hours.
    assert "2026-01-05 09:00:00 EST (in 2 h)" in listing


def test_add_at_plus_duration_is_a_one_off(cli: Cli) -> None:
    out = cli.ok("add", "once", "proj.hello", "--at", "+10m")
    assert cli.store().get("once").schedule == Clocked(START + timedelta(minutes=10))
    assert "once at 2026-01-05 13:10:00 CET" in out
    assert "(in 10 min)" in out


def test_add_refuses_existing_name_unless_replace(cli: Cli) -> None:
    cli.ok("add", "greet", "proj.hello", "--every", "30s")
    line = one_line_error(cli("add", "greet", "proj.report", "--every", "1h"))
    assert "entry 'greet' already exists (every 30 seconds, task proj.hello)" in line
    assert "--replace" in line
    assert cli.store().get("greet").task == "proj.hello"
    assert cli.ok("add", "greet", "proj.report", "--every", "1h", "--replace").startswith(
        "replaced 'greet': every hour, task proj.report"
    )
    assert cli.store().get("greet").task == "proj.report"


def test_add_disabled_and_unknown_task_warns_but_adds(cli: Cli) -> None:
    result = cli("add", "elsewhere", "other.service.task", "--every", "1d", "--disabled")
    assert result.exit_code == 0, result.output
    assert "warning: task 'other.service.task' is not registered in app 'cli-tests'" in (
        result.stderr
    )
    assert "next run none (disabled)" in result.stdout
    assert not cli.store().get("elsewhere").enabled


def test_edit_changes_only_what_is_given_and_keeps_state(cli: Cli) -> None:
    cli.ok("add", "greet", "proj.hello", "--every", "5m", "--queue", "fast", "--args", "[1]")
    store = cli.store()
    _run_once(store, "greet")
    before = store.state("greet")
    assert before.total_run_count == 1

    out = cli.ok("edit", "greet", "--kwargs", '{"x": 1}', "--queue", "none")
    assert out.startswith("updated 'greet' (kwargs, options): every 5 minutes")
    entry = store.get("greet")
    assert entry.kwargs == {"x": 1} and entry.options == {} and entry.args == (1,)
    assert store.state("greet") == before  # timing unchanged: state kept as it was

    cli.ok("edit", "greet", "--every", "1h", "--task", "proj.report")
    after = store.state("greet")
    assert store.get("greet").task == "proj.report"
    assert after.total_run_count == 1 and after.last_run_at == before.last_run_at
    assert after.next_run_at == clock() + timedelta(hours=1)  # rescheduled from now

    assert cli.ok("edit", "greet", "--every", "1h").startswith("unchanged 'greet'")


def test_list_filters_and_json(cli: Cli) -> None:
    cli.ok("add", "a-one", "proj.hello", "--every", "1m")
    cli.ok("add", "a-two", "proj.hello", "--every", "2m", "--disabled")
    cli.ok("add", "b-one", "proj.report", "--cron", "30 2 * * *")
    store = cli.store()
    store.sync_static([Entry(name="static-one", task="proj.hello", schedule=Interval(60),
                             static=True)])  # fmt: skip

    table = cli.ok("list")
    header = table.splitlines()[0].split()
    assert header == ["NAME", "SCHEDULE", "NEXT", "RUN", "LAST", "RUN", "LAST", "OUTCOME",
                      "RUNS", "ENABLED", "KIND", "LAST", "ERROR"]  # fmt: skip
    assert [line.split()[0] for line in table.splitlines()[1:]] == [
        "a-one", "a-two", "b-one", "static-one",
    ]  # fmt: skip

    def names(*args: str) -> list[str]:
        return [item["name"] for item in json.loads(cli.ok("list", "--json", *args))]

    assert names("a-*") == ["a-one", "a-two"]
    assert names("--disabled") == ["a-two"]
    assert names("--enabled", "--dynamic") == ["a-one", "b-one"]
    assert names("--static") == ["static-one"]
    [b_one] = json.loads(cli.ok("list", "--json", "b-one"))
    assert b_one["schedule"]["type"] == "crontab"
    assert b_one["schedule_text"] == "at 02:30 every day, Europe/Paris"
    assert b_one["state"]["next_run_at"] == "2026-01-06T01:30:00+00:00"
    assert b_one["state"]["total_run_count"] == 0


def test_remove_asks_unless_yes(cli: Cli) -> None:
    cli.ok("add", "greet", "proj.hello", "--every", "1m")
    refused = cli("remove", "greet", input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert "Remove entry 'greet' (every minute, task proj.hello)?" in refused.output
    assert cli.store().get("greet")
    assert cli.ok("remove", "greet", input="y\n").endswith("removed 'greet'\n")
    with pytest.raises(EntryNotFound):
        cli.store().get("greet")
    cli.ok("add", "greet", "proj.hello", "--every", "1m")
    assert cli.ok("remove", "greet", "--yes") == "removed 'greet'\n"


def test_static_entry_is_not_removed_or_edited_without_force(cli: Cli) -> None:
    store = cli.store()
    store.sync_static([Entry(name="nightly", task="proj.report", schedule=Crontab("0 3 * * *"),
                             static=True)])  # fmt: skip
    line = one_line_error(cli("remove", "nightly", "--yes"))
    assert "entry 'nightly' is static: it comes from beat_schedule" in line
    assert "beat restores it from there at its next start" in line and "--force" in line
    assert "static" in one_line_error(cli("edit", "nightly", "--every", "1m"))
    assert "static" in one_line_error(cli("add", "nightly", "proj.hello", "--every", "1m",
                                          "--replace"))  # fmt: skip
    assert store.get("nightly").schedule == Crontab("0 3 * * *")
    cli.ok("remove", "nightly", "--yes", "--force")
    with pytest.raises(EntryNotFound):
        store.get("nightly")


def test_enable_disable_and_trigger(cli: Cli) -> None:
    cli.ok("add", "greet", "proj.hello", "--every", "1h")
    store = cli.store()
    assert cli.ok("disable", "greet").startswith("disabled 'greet'")
    assert not store.get("greet").enabled
    assert cli.ok("disable", "greet") == "'greet' is already disabled\n"
    clock.advance(600)
    assert cli.ok("enable", "greet").startswith("enabled 'greet'")
    assert store.get("greet").enabled
    assert store.state("greet").next_run_at == clock() + timedelta(hours=1)

    out = cli.ok("trigger", "greet")
    assert out.startswith("triggered 'greet': runs at beat's next tick with task id ")
    assert store.state("greet").triggered_at == clock()
    lease = store.lock.acquire("test", 30)
    assert lease is not None
    claimed = store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    assert [c.entry.name for c in claimed.claims] == ["greet"]


def _run_once(store: object, name: str) -> None:
    """Make ``name`` due, claim it and ack one run, as the scheduler does."""
    from beatcore import timing
    from beatcore.store import Ack, Store

    assert isinstance(store, Store)
    state = store.state(name)
    assert state.next_run_at is not None
    clock.set(state.next_run_at)
    lease = store.lock.acquire("test", 30)
    assert lease is not None
    [claim] = store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
    entry = claim.entry
    nxt = timing.occurrence_after(entry, claim.state.next_run_at or clock(), "Europe/Paris")
    done = claim.state.evolve(
        next_run_at=nxt, last_run_at=claim.state.next_run_at, total_run_count=1,
        last_task_id=timing.task_id(name, claim.state.next_run_at or clock()),
    )  # fmt: skip
    store.ack(lease, [Ack(name, claim.state, done, timing.state_due_at(entry, done))])
    store.lock.release(lease)
