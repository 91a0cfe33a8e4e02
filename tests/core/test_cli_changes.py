"""The change log from the command line: ``disable --reason``, ``changes [NAME]``, the last
changes and the pause ``show`` prints (memory and SQLite)."""

from __future__ import annotations

import json
from datetime import timedelta

from beatcore.operations import MAX_REASON_LENGTH, actor
from tests.core.cli_app import START, Cli, clock, one_line_error


def test_who_paused_it_when_and_why(cli: Cli) -> None:
    """The operator's question: disable with a reason; show, changes and --json say who,
    when and why; enabling again clears it from show."""
    cli.ok("add", "report", "proj.report", "--cron", "30 2 * * *")
    clock.advance(3600)
    out = cli.ok("disable", "report", "--reason", "the API is down, INC-42")
    assert out.startswith("disabled 'report' (the API is down, INC-42): ")
    shown = cli.ok("show", "report")
    at = "2026-01-05 14:00:00 CET"  # an hour after START (13:00 in Paris)
    assert f"enabled:       no (disabled by {actor()} at {at}: the API is down, INC-42)" in shown
    assert "last 5 changes (newest first):" in shown
    log = shown.split("last 5 changes (newest first):\n", 1)[1].splitlines()
    assert log[0].split() == ["WHEN", "WHAT", "BY", "REASON"]
    assert log[1].split()[:5] == ["2026-01-05", "14:00:00", "CET", "disable", actor()]
    assert log[1].endswith("the API is down, INC-42")
    assert log[2].split()[3:5] == ["add", actor()]
    data = json.loads(cli.ok("show", "report", "--json"))
    assert data["disabled_by"] == {
        "name": "report", "action": "disable", "at": (START + timedelta(hours=1)).isoformat(),
        "by": actor(), "reason": "the API is down, INC-42", "fields": [], "via": None,
    }  # fmt: skip
    assert [c["action"] for c in data["last_changes"]] == ["disable", "add"]
    cli.ok("enable", "report")
    assert "enabled:       yes" in cli.ok("show", "report")
    assert json.loads(cli.ok("show", "report", "--json"))["disabled_by"] is None


def test_changes_lists_edits_with_their_fields_and_outlives_a_remove(cli: Cli) -> None:
    cli.ok("add", "a", "proj.hello", "--every", "1m")
    cli.ok("edit", "a", "--every", "2m", "--kwargs", '{"password": "hunter2"}')
    cli.ok("trigger", "a", "--reason", "rerun")
    cli.ok("remove", "a", "--yes")
    out = cli.ok("changes", "a")
    assert out.splitlines()[0] == "changes of a, newest first:"
    rows = [line.split(None, 4) for line in out.splitlines()[2:]]
    assert [row[3] for row in rows] == ["delete", "trigger", "update", "add"]
    assert "update (kwargs, schedule)" in out
    assert "hunter2" not in out and "hunter2" not in cli.ok("changes", "a", "--json")
    data = json.loads(cli.ok("changes", "a", "--json", "--limit", "2"))
    assert data["name"] == "a"
    assert [(c["action"], c["by"], c["reason"]) for c in data["changes"]] == [
        ("delete", actor(), None),
        ("trigger", actor(), "rerun"),
    ]


def test_changes_without_a_name_names_each_entry(cli: Cli) -> None:
    cli.ok("add", "a", "proj.hello", "--every", "1m")
    cli.ok("add", "b", "proj.hello", "--every", "1m", "--disabled")
    out = cli.ok("changes")
    assert out.splitlines()[0] == "changes of the schedule, newest first:"
    assert out.splitlines()[1].split() == ["NAME", "WHEN", "WHAT", "BY", "REASON"]
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["b", "a"]
    assert [c["name"] for c in json.loads(cli.ok("changes", "--json"))["changes"]] == ["b", "a"]
    assert "none recorded" in cli.ok("changes", "never-there")


def test_an_over_long_reason_is_one_line_and_changes_nothing(cli: Cli) -> None:
    cli.ok("add", "a", "proj.hello", "--every", "1m")
    line = one_line_error(cli("disable", "a", "--reason", "x" * (MAX_REASON_LENGTH + 1)))
    assert f"at most {MAX_REASON_LENGTH}" in line
    assert "enabled:       yes" in cli.ok("show", "a")


def test_import_logs_each_entry_it_writes(cli: Cli, tmp_path: object) -> None:
    cli.ok("add", "a", "proj.hello", "--every", "1m")
    exported = cli.ok("export")
    cli.ok("remove", "a", "--yes")
    document = json.loads(exported)
    path = f"{tmp_path}/export.json"
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file)
    cli.ok("import", path)
    (imported,) = json.loads(cli.ok("changes", "a", "--json", "--limit", "1"))["changes"]
    assert (imported["action"], imported["via"], imported["by"]) == ("add", "import", actor())
