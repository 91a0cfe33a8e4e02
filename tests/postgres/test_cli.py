"""``celery beatcore`` on a PostgreSQL store: reading never creates the tables; an outage is
one line; beat's scheduler goes on through an outage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from beatcore import Scheduler
from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.testing import memory_broker_app
from beatcore_postgres.plugin import open_store
from tests.core.cli_app import Cli, app
from tests.support.postgres_server import PostgresServer


@pytest.fixture
def cli(postgres_server: PostgresServer, pg_schema: str) -> Iterator[Cli]:
    url = f"{postgres_server.url}?schema={pg_schema}"
    app.conf.beatcore_url = url
    yield Cli(url)
    app.conf.beatcore_url = None


def test_reading_verbs_do_not_create_the_tables(
    cli: Cli, postgres_server: PostgresServer, pg_schema: str
) -> None:
    result = cli("list")
    assert result.exit_code == 3, result.output
    assert f"schema '{pg_schema}' of database 'postgres' holds no beatcore schedule" in (
        result.output
    )
    assert postgres_server.password not in result.output
    cli.ok("add", "greet", "proj.hello", "--every", "5m")
    assert "greet" in cli.ok("list")


def test_the_scheduler_goes_on_through_an_outage(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    url = f"{postgres_server.url}?schema={pg_schema}"
    beat_app = memory_broker_app(
        url,
        beat_max_loop_interval=1.0,
        beatcore_store_options={"retry_attempts": 2, "pool_timeout": 0.5},
    )
    scheduler = Scheduler(beat_app, holder="leader")
    client = open_store(url, {})
    try:
        client.save(Entry(name="a", task="tests.add", schedule=Interval(3600)))
        scheduler.tick()
        assert scheduler.lease is not None
        postgres_server.stop_server()
        try:
            assert scheduler.tick() == 1.0  # StoreUnavailable: logged, tried again next tick
            assert scheduler.tick() == 1.0
        finally:
            postgres_server.start()
        scheduler.tick()
        assert scheduler.lease is not None
        client.trigger("a")
        scheduler.tick()
        assert client.state("a").total_run_count == 1
    finally:
        client.close()
        scheduler.close()
