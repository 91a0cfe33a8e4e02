"""``celery beatcore migrate-from-redbeat`` on data written by the real celery-redbeat package,
in a real redis-server; and ``status`` (the health check) on the Redis store."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.schedules import crontab, schedule

from beatcore import Crontab, Interval, Solar
from beatcore.plugins import get_plugins
from beatcore.timeutil import UTC
from tests.core.cli_app import Cli, app, clock, make_cli, one_line_error

redbeat = pytest.importorskip("redbeat")
dateutil_rrule = pytest.importorskip("dateutil.rrule")

LAST_RUN = datetime(2026, 1, 5, 11, 58, tzinfo=UTC)  # two minutes before the test clock's now


@pytest.fixture(params=["memory", "sqlite", "redis"])
def cli(request: pytest.FixtureRequest, redis_db: Any, tmp_path: Path) -> Iterator[Cli]:
    """The CLI app, reading RedBeat from db 0 and writing beatcore's store (memory, SQLite or
    Redis db 1)."""
    app.conf.redbeat_redis_url = redis_db.url
    for cli in make_cli("sqlite" if request.param == "sqlite" else "memory", tmp_path):
        if request.param == "redis":
            cli.url = app.conf.beatcore_url = redis_db.url.rsplit("/", 1)[0] + "/1"
        yield cli
    app.conf.redbeat_redis_url = None


def _redbeat_app(url: str) -> Celery:
    rb = Celery("rb", broker=url, set_as_current=False)
    rb.conf.update(
        redbeat_redis_url=url, timezone="UTC", redbeat_lock_key=None, result_expires=None
    )
    return rb


def write_with_redbeat(url: str) -> None:
    """Write a schedule with celery-redbeat's own API, as a RedBeat user's project has it."""
    from redbeat import RedBeatScheduler, RedBeatSchedulerEntry
    from redbeat.schedules import rrule

    rb = _redbeat_app(url)
    ran = RedBeatSchedulerEntry(
        "every-5m", "proj.hello", schedule(timedelta(minutes=5)), args=["ada"],
        kwargs={"loud": True}, options={"queue": "fast"}, app=rb,
    ).save()  # fmt: skip
    ran.total_run_count = 4
    ran._next_instance(last_run_at=LAST_RUN)  # RedBeat's scheduler recording a run
    RedBeatSchedulerEntry("hourly-relative", "proj.hello", schedule(timedelta(hours=1),
                          relative=True), app=rb).save()  # fmt: skip
    RedBeatSchedulerEntry("weekdays", "proj.report", crontab(minute=30, hour=9,
                          day_of_week="mon-fri"), app=rb).save()  # fmt: skip
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    RedBeatSchedulerEntry("mon-fri-rule", "proj.report", rrule("weekly", dtstart=start,
                          byweekday=[dateutil_rrule.MO, dateutil_rrule.FR], byhour=9,
                          byminute=0), app=rb).save()  # fmt: skip
    RedBeatSchedulerEntry("easter", "proj.report", rrule("yearly", dtstart=start, byeaster=0),
                          app=rb).save()  # fmt: skip
    RedBeatSchedulerEntry("paused", "proj.hello", schedule(timedelta(days=1)), enabled=False,
                          app=rb).save()  # fmt: skip
    # A static entry: RedBeat's scheduler syncs beat_schedule and lists it in ``:statics``.
    rb.conf.beat_schedule = {"from-config": {"task": "proj.hello", "schedule": 30.0}}
    RedBeatScheduler(app=rb, lock_key=None)


def write_by_hand(url: str) -> None:
    """Records RedBeat's API cannot write (it has no JSON form for solar) but its layout holds."""
    rb = _redbeat_app(url)
    client = rb.redbeat_redis if hasattr(rb, "redbeat_redis") else None
    import redis

    client = client or redis.Redis.from_url(url)
    for name, sched in (
        ("sunset", {"__type__": "solar", "event": "sunset", "lat": 48.85, "lon": 2.35}),
        ("mystery", {"__type__": "lunar", "phase": "full"}),
    ):
        definition = {"name": name, "task": "proj.hello", "args": [], "kwargs": {},
                      "options": {}, "schedule": sched, "enabled": True}  # fmt: skip
        client.hset(f"redbeat:{name}", "definition", json.dumps(definition))
        client.zadd("redbeat::schedule", {f"redbeat:{name}": 0})
    client.close()


def test_migration_converts_keeps_history_and_reports_the_rest(cli: Cli, redis_db: Any) -> None:
    write_with_redbeat(redis_db.url)
    write_by_hand(redis_db.url)

    dry = cli("migrate-from-redbeat", "--dry-run")
    assert dry.exit_code == 1, dry.output
    assert "found 9 RedBeat entries under 'redbeat:' at redis://127.0.0.1:" in dry.stdout
    assert "would migrate 'every-5m': every 5 minutes, task proj.hello, last run " \
        "2026-01-05 11:58:00 UTC, 5 runs" in dry.stdout  # fmt: skip
    assert "7 to migrate, 2 could not be converted, 0 skipped (dry run: nothing written)" in (
        dry.stdout
    )
    assert cli.store().entries() == []

    result = cli("migrate-from-redbeat")
    assert result.exit_code == 1, result.output  # some entries could not be converted
    assert (
        "cannot convert 'easter': rrule byeaster (dateutil's Easter extension) is not RFC 5545"
        in result.stderr
    )
    assert "cannot convert 'mystery': schedule type 'lunar' has no beatcore equivalent" in (
        result.stderr
    )
    assert "7 migrated, 2 could not be converted, 0 skipped" in result.stdout

    store = cli.store()
    assert [e.name for e in store.entries()] == [
        "every-5m", "from-config", "hourly-relative", "mon-fri-rule", "paused", "sunset",
        "weekdays",
    ]  # fmt: skip
    every = store.get("every-5m")
    assert every.schedule == Interval(300) and every.task == "proj.hello"
    assert (every.args, every.kwargs, every.options) == (("ada",), {"loud": True},
                                                          {"queue": "fast"})  # fmt: skip
    state = store.state("every-5m")
    assert state.last_run_at == LAST_RUN and state.total_run_count == 5
    assert state.next_run_at == LAST_RUN + timedelta(minutes=5)  # follows the last run

    relative = store.get("hourly-relative").schedule
    assert relative == Interval(3600, relative=True)
    assert store.get("weekdays").schedule == Crontab("30 9 * * MON-FRI")
    assert store.get("weekdays").tz is None  # the app's zone, as in RedBeat
    assert store.get("sunset").schedule == Solar("sunset", 48.85, 2.35)
    assert not store.get("paused").enabled
    assert store.get("from-config").static and not store.get("every-5m").static

    rule = store.get("mon-fri-rule")
    if "rrule" in get_plugins().schedule_types():
        assert rule.schedule.type_name == "rrule" and rule.tz == "Etc/GMT-1"
        # Mondays and Fridays at 09:00 on RedBeat's fixed UTC+1 clock: 08:00 UTC, next after
        # the last run RedBeat recorded (its save stamps the creation time as last run).
        state = store.state("mon-fri-rule")
        assert state.last_run_at is not None and state.next_run_at is not None
        assert state.next_run_at.weekday() in (0, 4) and (
            state.next_run_at.hour,
            state.next_run_at.minute,
        ) == (8, 0)
        assert timedelta(0) < state.next_run_at - state.last_run_at <= timedelta(days=4)

    again = cli("migrate-from-redbeat")
    assert "skip 'every-5m': beatcore has an entry of that name (--replace)" in again.stdout
    assert "0 migrated, 2 could not be converted, 7 skipped" in again.stdout
    replaced = cli("migrate-from-redbeat", "--replace")
    assert "7 migrated, 2 could not be converted, 0 skipped" in replaced.stdout
    assert store.state("every-5m").total_run_count == 5

    # RedBeat's own keys are left as they were.
    with redis_db.client() as client:
        assert client.zcard("redbeat::schedule") == 9


def test_migration_waits_for_no_beatcore_leader(cli: Cli, redis_db: Any) -> None:
    write_with_redbeat(redis_db.url)
    store = cli.store()
    lease = store.lock.acquire("beat-host:99:2026-01-05T12:00:00Z", 30)
    assert lease is not None
    line = one_line_error(cli("migrate-from-redbeat"))
    assert "a beatcore scheduler (beat-host:99:2026-01-05T12:00:00Z) holds the lock" in line
    assert "--without-history" in line
    assert store.entries() == []
    out = cli("migrate-from-redbeat", "--without-history", "--redis-url", redis_db.url)
    assert "6 migrated" in out.stdout
    assert store.state("every-5m").total_run_count == 0


def test_migration_reports_a_bad_redis_url(cli: Cli) -> None:
    line = one_line_error(cli("migrate-from-redbeat", "--redis-url", "redis://127.0.0.1:1/0"))
    assert "cannot read RedBeat's keys at redis://127.0.0.1:1/0" in line


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_status_health_check_on_the_redis_store(redis_db: Any, tmp_path: Path) -> None:
    for cli in make_cli("memory", tmp_path):
        cli.url = app.conf.beatcore_url = redis_db.url.rsplit("/", 1)[0] + "/2"
        app.conf.beatcore_lock_ttl = 30
        try:
            cli.ok("add", "greet", "proj.hello", "--every", "1m")
            store = cli.store()
            assert cli("status").exit_code == 1
            lease = store.lock.acquire("beat-host:4242:2026-01-05T11:58:00Z", 30)
            assert lease is not None
            clock.advance(60)
            store.claim_due(lease, clock(), limit=10, reclaim_after=30)
            clock.advance(3)
            out = cli.ok("status")
            assert "leader:        beat-host (pid 4242, started 2026-01-05T11:58:00Z)" in out
            assert f"fencing token: {lease.token}" in out
            assert "last tick:     2026-01-05 12:01:00 UTC (3 s ago)" in out
            assert "unacked:       1" in out
            assert "health:        OK: a leader ticked 3 s ago (lock TTL 30 s)" in out
            clock.advance(30)
            late = cli("status")
            assert late.exit_code == 1
            assert "FAIL: no leader ticked for 33 s, more than the lock TTL of 30 s" in late.output
        finally:
            app.conf.beatcore_lock_ttl = None


def test_unreachable_redis_store_is_one_line(tmp_path: Path) -> None:
    for cli in make_cli("memory", tmp_path):
        app.conf.beatcore_url = f"redis://127.0.0.1:{_closed_port()}/0"
        app.conf.beatcore_store_options = {"retry_attempts": 1}
        try:
            line = one_line_error(cli("status"))
        finally:
            app.conf.beatcore_store_options = None
        assert f"127.0.0.1:{app.conf.beatcore_url.rsplit(':', 1)[1].split('/')[0]}" in line
