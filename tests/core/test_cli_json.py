"""``--json`` on every verb (issue 13 item 4): what changed, as JSON with stable field names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from beatcore.cli import BUILTIN_VERBS
from tests.core.cli_app import Cli


def as_json(cli: Cli, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_every_verb_takes_json(cli: Cli) -> None:
    for verb in BUILTIN_VERBS:
        assert "--json" in cli.ok(verb, "--help"), verb


def test_changing_verbs_say_what_changed(cli: Cli, tmp_path: Path) -> None:
    added = as_json(cli, "add", "greet", "proj.hello", "--every", "5m")
    assert (added["action"], added["name"], added["entry"]["task"]) == (
        "added",
        "greet",
        "proj.hello",
    )
    assert added["entry"]["state"]["next_run_at"] == "2026-01-05T12:05:00+00:00"

    edited = as_json(cli, "edit", "greet", "--every", "10m", "--jitter", "5s")
    assert (edited["action"], edited["changed"]) == ("updated", ["jitter", "schedule"])
    assert as_json(cli, "edit", "greet")["action"] == "unchanged"

    disabled = as_json(cli, "disable", "greet")
    assert (disabled["action"], disabled["entry"]["enabled"]) == ("disabled", False)
    assert as_json(cli, "disable", "greet")["action"] == "unchanged"
    assert as_json(cli, "enable", "greet")["action"] == "enabled"

    triggered = as_json(cli, "trigger", "greet")
    assert sorted(triggered) == ["action", "at", "name", "task_id"]
    assert triggered["at"] == "2026-01-05T12:00:00+00:00"

    export = tmp_path / "export.json"
    export.write_text(cli.ok("export", "--json"))
    imported = as_json(cli, "import", str(export), "--dry-run")
    assert imported == {
        "changed": 0,
        "dry_run": True,
        "entries": [{"action": "unchanged", "changed": [], "name": "greet"}],
    }
    assert as_json(cli, "retry-unreadable") == {"revived": [], "unreadable": []}
    assert as_json(cli, "remove", "greet", "--yes") == {"action": "removed", "name": "greet"}
    assert as_json(cli, "list") == []
