"""The CLI's verbs that only read say so when no beatcore schedule is at a Redis URL (a wrong
database number, say) instead of listing an empty one (issue 13 item 1, the Redis side)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from beatcore import Entry, Interval, connect
from tests.core.cli_app import Cli, app, clock

pytestmark = pytest.mark.redis_server


@pytest.fixture
def cli_on(redis_db: Any) -> Iterator[Any]:
    def make(db: int) -> Cli:
        url = redis_db.url_for(db)
        app.conf.beatcore_url = url
        return Cli(url)

    yield make
    app.conf.beatcore_url = None


def test_read_only_verbs_on_an_empty_database_exit_3_and_write_nothing(
    cli_on: Any, redis_db: Any
) -> None:
    cli = cli_on(5)
    for verb in (["list"], ["status"], ["export"], ["show", "x"]):
        result = cli(*verb)
        assert result.exit_code == 3, (verb, result.output)
        assert result.output.startswith(
            f"Error: no beatcore store at {cli.url}: no beatcore schedule under key prefix "
            "'beatcore:' (neither {beatcore}:meta nor {beatcore}:fence exists; check the "
            "database number and beatcore_key_prefix)"
        ), result.output
    with redis_db.client(5) as client:
        assert client.keys("*") == []


def test_a_schedule_with_one_entry_is_found(cli_on: Any) -> None:
    cli = cli_on(6)
    with connect(cli.url, clock=clock) as store:
        store.save(Entry(name="greet", task="proj.hello", schedule=Interval(60)))
    assert cli.ok("list").splitlines()[1].startswith("greet ")
