"""Bad input to ``celery beatcore`` gives one line naming what is wrong, and a non-zero exit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from beatcore import EntryNotFound
from beatcore.urls import mask_password
from tests.core.cli_app import Cli, app, make_cli, one_line_error, rrule_plugins_removed


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli("memory", tmp_path)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--cron", "0 25 * * *"], "Invalid value for '--cron': crontab field 'hour' has value 25"),
        (["--cron", "0 9 * *"], "crontab expression must have 5 fields"),
        (["--every", "5x"], "Invalid value for '--every': '5x' is not a duration"),
        (["--every", "0"], "Invalid value for '--every': interval must be positive"),
        (["--every", "1m", "--tz", "Mars/Base"], "'--tz': unknown time zone 'Mars/Base'"),
        (["--every", "1m", "--args", "[1,"], "'--args': '[1,' is not valid JSON"),
        (["--every", "1m", "--args", '{"a": 1}'], "'--args': '{\"a\": 1}' must be a JSON list"),
        (["--every", "1m", "--kwargs", "[1]"], "'--kwargs': '[1]' must be a JSON object"),
        (["--every", "1m", "--catch-up", "some"], "'--catch-up': 'some' is not one of"),
        (["--at", "tomorrow"], "'--at': 'tomorrow' is not a date and time"),
        (["--every", "1m", "--start", "2026-13-01"], "'--start': '2026-13-01' is not a date"),
        (["--every", "1m", "--end", "+soon"], "'--end': 'soon' is not a duration"),
        (["--every", "1m", "--cron", "* * * * *"], "give one schedule option, not 2"),
        ([], "give a schedule: --every, --cron, --at, --rrule or --schedule"),
        (["--every", "1m", "--start", "2026-02-01", "--end", "2026-01-01"],
         "end_at of entry 'x' (2025-12-31T23:00:00+00:00) is before its start_at"),
    ],
)  # fmt: skip
def test_bad_add_options_are_one_line(cli: Cli, args: list[str], expected: str) -> None:
    line = one_line_error(cli("add", "x", "proj.hello", *args))
    assert expected in line
    with pytest.raises(EntryNotFound):
        cli.store().get("x")


def test_bad_task_name_format(cli: Cli) -> None:
    line = one_line_error(cli("add", "x", "proj hello", "--every", "1m"))
    assert "Invalid value for 'TASK': 'proj hello' is not a task name" in line


@pytest.mark.parametrize("verb", ["show", "edit", "remove", "enable", "disable", "trigger"])
def test_missing_entry(cli: Cli, verb: str) -> None:
    extra = ["--yes"] if verb == "remove" else []
    assert (
        one_line_error(cli(verb, "ghost", *extra)) == "Error: no entry named 'ghost' in the store"
    )


@pytest.fixture
def without_rrule() -> Iterator[None]:
    with rrule_plugins_removed():
        yield


def test_rrule_without_the_plugin_names_it(cli: Cli, without_rrule: None) -> None:
    line = one_line_error(cli("add", "x", "proj.hello", "--rrule", "FREQ=DAILY"))
    assert "'--rrule': needs the beatcore-rrule plugin: unknown schedule type 'rrule'" in line


def test_bad_store_url_setting(cli: Cli) -> None:
    app.conf.beatcore_url = "nosuch://somewhere"
    line = one_line_error(cli("list"))
    assert "no installed store handles URL scheme 'nosuch' in beatcore_url" in line


def test_bad_setting_value(cli: Cli) -> None:
    app.conf.beatcore_lock_ttl = -5
    try:
        line = one_line_error(cli("status"))
    finally:
        app.conf.beatcore_lock_ttl = None
    assert line == "Error: beatcore_lock_ttl must be a positive number of seconds, got -5"


def test_unreachable_sqlite_store(cli: Cli, tmp_path: Path) -> None:
    from beatcore.plugins import get_plugins

    try:
        get_plugins().store_from_url("sqlite:///" + str(tmp_path / "probe.db"), {})
    except Exception:
        pytest.skip("the SQLite store is not installed")
    app.conf.beatcore_url = "sqlite:///" + str(tmp_path / "no" / "such" / "dir" / "x.db")
    line = one_line_error(cli("list"))
    assert str(tmp_path / "no" / "such" / "dir") in line


def test_password_is_masked() -> None:
    assert mask_password("redis://:s3cret@host:6379/0") == "redis://:****@host:6379/0"
    assert mask_password("redis://user:s3cret@host/0") == "redis://user:****@host/0"
    assert mask_password("redis://host:6379/0") == "redis://host:6379/0"
    assert mask_password("redis+sentinel://:pw@a:26379,b:26379/mymaster") == (
        "redis+sentinel://:****@a:26379,b:26379/mymaster"
    )


def test_unreadable_record_is_reported_not_fatal(cli: Cli) -> None:
    from beatcore.stores.memory import MemoryStore
    from beatcore.testing import plant_memory_record
    from tests.core.cli_app import START

    cli.ok("add", "good", "proj.hello", "--every", "1m")
    store = cli.store()
    assert isinstance(store, MemoryStore)
    plant_memory_record(store, "broken", "{not json", "{}", START)
    result = cli("list")
    assert result.exit_code == 0
    broken, good = result.stdout.splitlines()[1:]
    assert broken.split()[:2] == ["broken", "UNREADABLE"]
    assert broken.split()[-5:] == ["not", "valid", "JSON", "(Expecting", "property", "name…"][-5:]
    assert good.startswith("good ")
    assert "warning: stored record of entry 'broken' cannot be read: not valid JSON" in (
        result.stderr
    )
    line = one_line_error(cli("show", "broken"))
    assert line.startswith("Error: stored record of entry 'broken' cannot be read: not valid JSON")
    assert "unreadable record" in cli("remove", "broken", input="n\n").output
    assert cli.ok("remove", "broken", "--yes") == "removed 'broken'\n"
    assert cli("list").stderr == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--jitter", "1e14"], "jitter of entry 'x' must be a number of seconds >= 0 and <="),
        (["--misfire-grace", "1e14"], "misfire_grace of entry 'x' must be a number of seconds"),
        (["--max-runs", str(2**64)], "max_runs of entry 'x' must be a positive integer"),
        (["--args", "[NaN]"], "args of entry 'x' must be JSON-serializable: nan is not a finite"),
        (["--kwargs", '{"a": [Infinity]}'], "kwargs of entry 'x' must be JSON-serializable: inf"),
        (["--args", "[" * 2000 + "]" * 2000], "'--args': '[[[[[["),  # was a RecursionError
        (["--args", "[" * 101 + "]" * 101], "nested more than 100 levels deep"),
    ],
)
def test_values_an_entry_cannot_use_are_one_line_errors(
    cli: Cli, args: list[str], expected: str
) -> None:
    """Issue 12 item 4 from the command line: the entry is refused, naming field and value."""
    line = one_line_error(cli("add", "x", "proj.hello", "--every", "1m", *args))
    assert expected in line
    assert "Traceback" not in line and "RecursionError" not in line
    with pytest.raises(EntryNotFound):
        cli.store().get("x")
