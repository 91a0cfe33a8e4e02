"""``celery beatcore migrate-from-django-celery-beat``: tables made by django-celery-beat's own
migrations and filled through its models, on PostgreSQL and SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from beatcore import Clocked, Crontab, Interval, Solar
from beatcore.timeutil import UTC
from tests.core.cli_app import Cli, make_cli
from tests.support.postgres_server import PostgresServer

pytest.importorskip("django_celery_beat")

FILL = Path(__file__).with_name("django_fill.py")


def fill(database: dict[str, object]) -> None:
    """Run django-celery-beat's migrations and fill its tables, in a process of its own."""
    subprocess.run([sys.executable, str(FILL), json.dumps(database)], check=True, timeout=120)


@pytest.fixture(params=["postgres", "sqlite"])
def django_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Django's database, migrated and filled: a PostgreSQL database or a SQLite file."""
    if request.param == "sqlite":
        path = tmp_path / "django.sqlite3"
        fill({"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)})
        return f"sqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database("django")
    fill(
        {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": server.user,
            "PASSWORD": server.password,
            "HOST": server.host,
            "PORT": str(server.port),
        }
    )
    return server.url_for(name)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """The CLI app (registers proj.hello and proj.report) on a fresh SQLite store."""
    yield from make_cli("sqlite", tmp_path)


def test_migration_maps_every_schedule_kind_keeps_history_and_reports_bad_rows(
    cli: Cli, django_url: str
) -> None:
    dry = cli("migrate-from-django-celery-beat", django_url, "--dry-run")
    assert dry.exit_code == 1, dry.output  # some rows cannot be migrated
    assert "found 9 periodic tasks at" in dry.stdout
    assert "6 to migrate, 3 not migrated (dry run: nothing written)" in dry.stdout
    assert cli.store().entries() == []
    if "@" in django_url:
        assert "s3cret-pw" not in dry.output

    result = cli("migrate-from-django-celery-beat", django_url)
    assert result.exit_code == 1, result.output
    assert "not migrated 'bad-cron': schedule:" in result.stderr
    assert "99" in result.stderr
    assert "not migrated 'bad-args': args is not valid JSON" in result.stderr
    assert "not migrated 'unknown-task': task 'proj.no_such_task' is not registered" in (
        result.stderr
    )
    assert "6 migrated (6 written, 1 run histories), 3 not migrated" in result.stdout
    assert "every-10s" in result.stdout and "NAME" in result.stdout

    store = cli.store()
    names = [e.name for e in store.entries()]
    assert names == ["every-10s", "expired", "nightly-berlin", "once", "paused", "sunrise"]
    fast = store.get("every-10s")
    assert fast.schedule == Interval(10)
    assert (fast.task, fast.args, fast.kwargs) == ("proj.hello", (1, 2), {"z": 3})
    assert fast.options == {
        "queue": "fast",
        "exchange": "ex",
        "routing_key": "rk",
        "priority": 5,
        "headers": {"tenant": "a"},
    }
    assert fast.description == "Says hello every ten seconds.\nOwner: team A (ünïcode kept)"
    state = store.state("every-10s")
    assert state.last_run_at == datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    assert state.total_run_count == 42
    assert state.next_run_at == datetime(2026, 1, 5, 11, 0, 10, tzinfo=UTC)

    nightly = store.get("nightly-berlin")
    assert nightly.schedule == Crontab(minute="30", hour="2")
    assert nightly.tz == "Europe/Berlin"
    assert nightly.options == {"expires": 600}
    assert nightly.description == "Nightly report, Berlin time"
    assert store.get("paused").description is None  # django-celery-beat's empty default
    assert store.get("sunrise").schedule == Solar("sunrise", 52.52, 13.4)
    once = store.get("once")
    assert once.schedule == Clocked(datetime(2030, 6, 1, 8, 0, tzinfo=UTC))
    assert once.max_runs == 1
    assert store.get("paused").enabled is False
    expired = store.get("expired")
    assert expired.end_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert expired.start_at == datetime(2024, 6, 1, tzinfo=UTC)
    assert store.state("expired").next_run_at is None
    assert store.get("every-10s").schedule.to_dict() == Interval(timedelta(seconds=10)).to_dict()

    again = cli("migrate-from-django-celery-beat", django_url)
    assert "6 migrated (0 written, 0 run histories), 3 not migrated" in again.stdout
    assert store.state("every-10s") == state


def test_a_bad_database_url_is_one_line(cli: Cli, tmp_path: Path) -> None:
    result = cli("migrate-from-django-celery-beat", f"sqlite:///{tmp_path / 'missing.sqlite3'}")
    assert result.exit_code == 2
    assert "no SQLite database at" in result.output
    result = cli("migrate-from-django-celery-beat", "mysql://u:pw@h/db")
    assert result.exit_code == 2 and "pw@" not in result.output
