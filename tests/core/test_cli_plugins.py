"""Plugins add verbs through ``beatcore_cli_commands``; ``--rrule`` finds its type by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import attrs
import click
import pytest

from beatcore import hookimpl
from beatcore.cli import Session, pass_session
from beatcore.plugins import get_plugins
from tests.core.cli_app import Cli, make_cli, one_line_error, rrule_plugins_removed


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli("memory", tmp_path)


@click.command("count")
@pass_session
def count(session: Session) -> None:
    """Print how many entries there are."""
    click.echo(f"{len(session.store.entries())} entries in {session.store.url}")


class VerbPlugin:
    @hookimpl
    def beatcore_cli_commands(self) -> Sequence[click.Command]:
        return [count, click.Command("list", help="clashes with a built-in verb")]


@pytest.fixture
def verb_plugin() -> Iterator[None]:
    plugin = VerbPlugin()
    get_plugins().register(plugin)
    yield
    get_plugins().manager.unregister(plugin)


def test_plugin_verb_joins_the_group(cli: Cli, verb_plugin: None) -> None:
    cli.ok("add", "greet", "proj.hello", "--every", "1m")
    result = cli("count")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"1 entries in {cli.url}\n"
    assert "warning: a plugin's beatcore verb 'list' is ignored: that name is taken" in (
        result.stderr
    )
    listing = cli("--help").stdout
    assert "  count " in listing
    assert "greet" in cli("list").stdout  # the built-in list still answers


@attrs.frozen
class DailyRule:
    """A stand-in ``rrule`` type: ``FREQ=DAILY;BYHOUR=H`` only (the real one is a plugin)."""

    type_name: ClassVar[str] = "rrule"
    hour: int

    @classmethod
    def from_text(cls, text: str) -> DailyRule:
        parts = dict(part.split("=", 1) for part in text.split(";"))
        if parts.get("FREQ") != "DAILY" or "BYHOUR" not in parts:
            raise ValueError(f"only FREQ=DAILY;BYHOUR=H is understood, got {text!r}")
        return cls(int(parts["BYHOUR"]))

    def next_after(self, dt: datetime) -> datetime | None:
        candidate = dt.replace(hour=self.hour, minute=0, second=0, microsecond=0)
        return candidate if candidate > dt else candidate + timedelta(days=1)

    def to_dict(self) -> dict[str, Any]:
        return {"hour": self.hour}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DailyRule:
        return cls(data["hour"])


class RulePlugin:
    @hookimpl
    def beatcore_schedule_types(self) -> Sequence[type[Any]]:
        return [DailyRule]


@pytest.fixture
def rrule_type() -> Iterator[None]:
    """The stand-in registered as ``rrule`` in place of the real plugin (if installed)."""
    plugins = get_plugins()
    with rrule_plugins_removed():
        plugin = RulePlugin()
        plugins.register(plugin)
        yield
        plugins.manager.unregister(plugin)


def test_rrule_option_uses_the_registered_type(cli: Cli, rrule_type: None) -> None:
    out = cli.ok("add", "morning", "proj.hello", "--rrule", "FREQ=DAILY;BYHOUR=7")
    assert cli.store().get("morning").schedule == DailyRule(7)
    # Evaluated in the app's zone (Paris): 07:00 CET tomorrow.
    assert "next run 2026-01-06 07:00:00 CET" in out
    line = one_line_error(cli("add", "bad", "proj.hello", "--rrule", "FREQ=HOURLY"))
    assert "Invalid value for '--rrule': 'FREQ=HOURLY': only FREQ=DAILY;BYHOUR=H" in line


def test_rrule_option_with_the_real_plugin(cli: Cli) -> None:
    plugins = get_plugins()
    if "rrule" not in plugins.schedule_types():
        pytest.skip("the beatcore-rrule plugin is not installed")
    rule = "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=30"
    out = cli.ok("add", "standup", "proj.hello", "--rrule", rule, "--tz", "America/New_York")
    entry = cli.store().get("standup")
    assert entry.schedule.type_name == "rrule" and entry.tz == "America/New_York"
    # Monday 12:00 UTC is 07:00 in New York: 09:30 there today.
    assert "next run 2026-01-05 09:30:00 EST (in 2 h 30 min)" in out
    shown = cli.ok("show", "standup", "--next", "3", "--changes", "0")
    assert [line.split(" (")[0] for line in shown.splitlines() if line.startswith("  2026")] == [
        "  2026-01-05 09:30:00 EST", "  2026-01-07 09:30:00 EST", "  2026-01-12 09:30:00 EST",
    ]  # fmt: skip
    line = one_line_error(cli("add", "bad", "proj.hello", "--rrule", "FREQ=SOMETIMES"))
    assert line.startswith("Error: Invalid value for '--rrule': 'FREQ=SOMETIMES': ")


@click.command("explode")
def explode() -> None:
    """A verb whose library fails in a way beatcore cannot name."""
    raise RuntimeError("the client library gave up")


class ExplodingPlugin:
    @hookimpl
    def beatcore_cli_commands(self) -> Sequence[click.Command]:
        return [explode]


def test_foreign_errors_are_one_line_unless_traceback(cli: Cli) -> None:
    plugin = ExplodingPlugin()
    get_plugins().register(plugin)
    try:
        line = one_line_error(cli("explode"))
        assert line == (
            f"Error: RuntimeError: the client library gave up (store {cli.url}; add --traceback "
            "after 'beatcore' for details)"
        )
        whole = cli("--traceback", "explode")
        assert isinstance(whole.exception, RuntimeError)
    finally:
        get_plugins().manager.unregister(plugin)
