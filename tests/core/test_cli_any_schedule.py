"""Everything an entry holds is reachable from the CLI (issue 13 item 5): any registered
schedule type (``--schedule TYPE:JSON``, plugin types included), every apply_async option
(``--options JSON``) and a ``description`` (a new optional Entry field, stored and read back;
records without it still read)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from beatcore import Entry, Interval
from beatcore.plugins import get_plugins
from beatcore.serializer import (
    ENTRY_OMITTED_DEFAULTS,
    dumps_entry,
    entry_to_dict,
    loads_entry,
    stored_dict,
)
from tests.core.cli_app import Cli, one_line_error

THIRD_PARTY = Path(__file__).resolve().parents[1] / "thirdparty"


@pytest.fixture
def weekly_plugin() -> Iterator[None]:
    sys.path.insert(0, str(THIRD_PARTY))
    import beatcore_weekly_example

    get_plugins().register(beatcore_weekly_example)
    yield
    get_plugins().unregister(beatcore_weekly_example)
    sys.path.remove(str(THIRD_PARTY))


def test_schedule_of_any_registered_type(cli: Cli, weekly_plugin: None) -> None:
    added = json.loads(
        cli.ok("add", "nth", "proj.hello", "--schedule", 'example.every_nth_second:{"n": 15}',
               "--json")
    )  # fmt: skip
    assert added["entry"]["schedule"] == {"type": "example.every_nth_second", "n": 15}
    assert added["entry"]["state"]["next_run_at"] == "2026-01-05T12:00:15+00:00"
    built_in = json.loads(
        cli.ok("add", "ninety", "proj.hello", "--schedule", 'interval:{"every": 90}', "--json")
    )
    assert built_in["entry"]["schedule"]["every"] == 90.0
    edited = json.loads(cli.ok("edit", "ninety", "--schedule", "crontab:{\"minute\": \"*/5\"}",
                               "--json"))  # fmt: skip
    assert edited["changed"] == ["schedule"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nobody.knows:{}", "unknown schedule type 'nobody.knows'"),
        ('interval:{"every": ', "is not valid JSON"),
        ("interval:[1]", "must be a JSON object"),
        ('interval:{"every": -1}', "schedule type 'interval' refuses"),
    ],
)
def test_bad_schedule_spec_is_one_line(cli: Cli, spec: str, message: str) -> None:
    line = one_line_error(cli("add", "x", "proj.hello", "--schedule", spec))
    assert line.startswith("Error: Invalid value for '--schedule': ")
    assert message in line


def test_full_options_and_a_description(cli: Cli) -> None:
    options = {"expires": 300, "priority": 7, "headers": {"team": "billing"},
               "exchange": "reports", "routing_key": "reports.daily"}  # fmt: skip
    about = "Nightly billing report for the finance team"
    cli.ok("add", "daily", "proj.report", "--every", "1d", "--options", json.dumps(options),
           "--queue", "reports", "--description", about)  # fmt: skip
    shown = json.loads(cli.ok("show", "daily", "--json"))
    assert shown["options"] == {**options, "queue": "reports"}
    assert shown["description"] == "Nightly billing report for the finance team"
    assert "description:   Nightly billing report for the finance team" in cli.ok("show", "daily")
    header, row = cli.ok("list").splitlines()
    assert header.split()[-1] == "DESCRIPTION" and row.endswith(
        "Nightly billing report for the finance …"
    )
    cli.ok("edit", "daily", "--description", "")
    assert json.loads(cli.ok("show", "daily", "--json"))["description"] is None
    assert "DESCRIPTION" not in cli.ok("list")


def test_description_round_trips_and_old_records_still_read() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(60), description="what it is for")
    assert loads_entry(dumps_entry(entry), "e") == entry
    assert json.loads(dumps_entry(entry)) == stored_dict(
        entry_to_dict(entry), ENTRY_OMITTED_DEFAULTS
    )
    plain = Entry(name="e", task="t", schedule=Interval(60))
    assert "description" not in dumps_entry(plain)  # bytes as before the field existed
    old = '{"v":1,"name":"e","task":"t","schedule":{"type":"interval","every":60.0}}'
    assert loads_entry(old, "e").description is None
    with pytest.raises(Exception, match="description of entry 'e' must be text"):
        Entry(name="e", task="t", schedule=Interval(60), description=42)  # type: ignore[arg-type]


def test_add_warns_when_the_last_beat_lacks_the_schedule_type(
    cli: Cli, weekly_plugin: None
) -> None:
    from beatcore.store import BeatInfo
    from tests.core.cli_app import START

    cli.store().record_beat(BeatInfo("beat-host:77:2026-01-05T11:00:00Z", START, ("interval",)))
    result = cli("add", "nth", "proj.hello", "--schedule", 'example.every_nth_second:{"n": 15}')
    assert result.exit_code == 0, result.output
    assert (
        "warning: the beat that last started on this store (beat-host:77:2026-01-05T11:00:00Z) "
        "has no schedule type 'example.every_nth_second' (it has: interval); it cannot run 'nth'"
    ) in result.stderr
    plain = cli("add", "ninety", "proj.hello", "--every", "90s")
    assert "warning" not in plain.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('{"priority": 300}', "'priority' must be an integer from 0 to 255, got 300"),
        ('{"priority": true}', "'priority' must be an integer from 0 to 255, got True"),
        ('{"expires": -5}', "'expires' must be seconds (a number >= 0) or an ISO 8601 time"),
        ('{"headers": [1]}', "'headers' must be a JSON object"),
        ("[1]", "must be a JSON object"),
    ],
)
def test_bad_task_options_are_one_line(cli: Cli, options: str, message: str) -> None:
    line = one_line_error(cli("add", "x", "proj.hello", "--every", "1m", "--options", options))
    assert line.startswith("Error: Invalid value for '--options': ")
    assert message in line
