"""``celery beatcore export`` and ``import FILE``: round trip, dry run, all-or-nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from beatcore import Crontab, Entry, EntryNotFound, Interval
from beatcore.serializer import entry_to_dict
from tests.core.cli_app import Cli, app, one_line_error


def _fill(cli: Cli) -> None:
    cli.ok("add", "greet", "proj.hello", "--every", "5m", "--args", '["ada"]')
    cli.ok("add", "report", "proj.report", "--cron", "0 9 * * MON-FRI", "--tz", "Europe/Paris")
    cli.store().sync_static([Entry(name="static-one", task="proj.hello", schedule=Interval(60),
                                   static=True)])  # fmt: skip


def test_export_to_stdout_holds_entries_and_states(cli: Cli) -> None:
    _fill(cli)
    document = json.loads(cli.ok("export"))
    assert document["format"] == "beatcore-export" and document["version"] == 1
    assert document["store"] == cli.url
    names = [record["entry"]["name"] for record in document["entries"]]
    assert names == ["greet", "report", "static-one"]
    greet = document["entries"][0]
    assert greet["entry"]["schedule"] == {"type": "interval", "every": 300.0}
    assert greet["state"]["next_run_at"] == "2026-01-05T12:05:00+00:00"


def test_export_file_imports_into_another_store(cli: Cli, tmp_path: Path) -> None:
    _fill(cli)
    path = tmp_path / "schedule.json"
    result = cli("export", "--output", str(path))
    assert result.exit_code == 0 and "exported 3 entries to" in result.stderr
    source = {e.name: entry_to_dict(e) for e in cli.store().entries()}

    app.conf.beatcore_url = f"memory://cli-import-{uuid.uuid4()}"
    target = Cli(app.conf.beatcore_url)
    dry = target.ok("import", str(path), "--dry-run")
    assert dry.splitlines() == [
        "skip 'static-one' (static: beat_schedule owns it)",
        "would add 'greet'",
        "would add 'report'",
        "2 entries to change (dry run: nothing written)",
    ]
    assert target.store().entries() == []

    out = target.ok("import", str(path))
    assert out.splitlines()[-1] == "2 entries changed"
    imported = {e.name: entry_to_dict(e) for e in target.store().entries()}
    assert imported == {name: source[name] for name in ("greet", "report")}

    assert target.ok("import", str(path), "--include-static").splitlines() == [
        "unchanged 'greet'",
        "unchanged 'report'",
        "add 'static-one'",
        "1 entry changed",
    ]


def test_import_updates_existing_entries_keeping_their_state(cli: Cli, tmp_path: Path) -> None:
    _fill(cli)
    path = tmp_path / "schedule.json"
    document = json.loads(cli.ok("export"))
    document["entries"][0]["entry"]["kwargs"] = {"loud": True}
    path.write_text(json.dumps(document))
    before = cli.store().state("greet")
    out = cli.ok("import", str(path))
    assert "update (kwargs) 'greet'" in out and "unchanged 'report'" in out
    assert cli.store().get("greet").kwargs == {"loud": True}
    assert cli.store().state("greet") == before


def test_one_bad_entry_means_nothing_is_written(cli: Cli, tmp_path: Path) -> None:
    records = [
        {"entry": entry_to_dict(Entry(name="good", task="proj.hello", schedule=Interval(60)))},
        {"entry": {**entry_to_dict(Entry(name="bad-cron", task="proj.hello",
                                          schedule=Crontab("* * * * *"))),
                   "schedule": {"type": "crontab", "minute": "61"}}},
        {"entry": {**entry_to_dict(Entry(name="bad-tz", task="proj.hello",
                                          schedule=Interval(5))), "tz": "Mars/Base"}},
    ]  # fmt: skip
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "beatcore-export", "version": 1, "entries": records}))
    result = cli("import", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"Error: {path}: entry 'bad-cron' (#2): ")
    assert "minute" in lines[0] and "61" in lines[0]
    assert lines[1].startswith(f"Error: {path}: entry 'bad-tz' (#3): ")
    assert "unknown time zone 'Mars/Base'" in lines[1]
    assert lines[2] == "2 invalid entries; nothing was imported"
    with pytest.raises(EntryNotFound):
        cli.store().get("good")


def test_import_refuses_what_is_not_an_export(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json")
    assert f"Error: {path} is not valid JSON" in one_line_error(cli("import", str(path)))
    path.write_text('{"format": "something-else"}')
    assert "not a beatcore export" in one_line_error(cli("import", str(path)))
    path.write_text('{"format": "beatcore-export", "version": 99, "entries": []}')
    assert "export version 99 is not supported" in one_line_error(cli("import", str(path)))
    assert "No such file" in one_line_error(cli("import", str(tmp_path / "missing.json")))
