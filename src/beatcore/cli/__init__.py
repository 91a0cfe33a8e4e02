"""``celery -A proj beatcore ...``: manage the schedule and check beat's health from a shell.

The ``beatcore`` group joins Celery's own command through the ``celery.commands`` entry point,
so it reads the same app (and configuration) as ``celery beat``. Plugins add verbs through the
``beatcore_cli_commands`` hook. Errors in what the user gave (a bad cron field, an unknown zone,
a missing entry, an unreachable store) are one line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import select
import sys
from typing import Any

import click

from beatcore.cli.exits import EXIT_ERROR, Failure, exit_code_of
from beatcore.cli.session import (
    LOCATION_KEY,
    Location,
    Session,
    existing_session,
    get_session,
    pass_session,
)
from beatcore.errors import BeatcoreError
from beatcore.tracking import install as _install_run_tracking
from beatcore.urls import mask_password

__all__ = ["Session", "beatcore", "get_session", "pass_session"]

# Celery imports this module for every ``celery`` command: a worker learns here to report
# the runs beat sends when its app sets beatcore_track_runs (see beatcore.tracking).
_install_run_tracking()

#: The built-in verbs and where each lives; a verb's module is imported when it is run (or
#: listed by --help), so ``status`` loads only what the health check needs.
BUILTIN_VERBS = {
    "list": "beatcore.cli.reports:list_entries",
    "show": "beatcore.cli.reports:show",
    "history": "beatcore.cli.runs:history",
    "changes": "beatcore.cli.changelog:changes",
    "add": "beatcore.cli.commands:add",
    "edit": "beatcore.cli.commands:edit",
    "remove": "beatcore.cli.actions:remove",
    "enable": "beatcore.cli.actions:enable",
    "disable": "beatcore.cli.actions:disable",
    "trigger": "beatcore.cli.actions:trigger",
    "export": "beatcore.cli.transfer:export",
    "import": "beatcore.cli.transfer:import_",
    "status": "beatcore.cli.health:status",
    "retry-unreadable": "beatcore.cli.actions:retry_unreadable",
}

_PLUGIN_COMMANDS_KEY = "beatcore.plugin_commands"
_TRACEBACK_KEY = "beatcore.traceback"


class BeatcoreGroup(click.Group):
    """The ``beatcore`` verbs: the built-in ones plus those plugins return.

    Plugin verbs are asked for once per invocation, after the app's ``beatcore_plugins`` are
    loaded, so a plugin named only in the app's configuration can add verbs too. A plugin verb
    never replaces a built-in one.
    """

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        root = ctx.find_root()
        cached = root.meta.get(_PLUGIN_COMMANDS_KEY)
        if cached is not None:
            return dict(cached)
        from beatcore.plugins import get_plugins

        # Loads the app's beatcore_plugins; a bad setting is reported by the verb that opens
        # the store, and entry-point plugins still count.
        with contextlib.suppress(BeatcoreError):
            get_session(ctx)
        found: dict[str, click.Command] = {}
        for commands in get_plugins().hook.beatcore_cli_commands():
            for command in commands or ():
                name = command.name
                if not name or name in BUILTIN_VERBS or name in found:
                    click.echo(
                        f"warning: a plugin's beatcore verb {name!r} is ignored: that name is "
                        "taken",
                        err=True,
                    )
                    continue
                found[name] = command
        root.meta[_PLUGIN_COMMANDS_KEY] = found
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return built-in and plugin verb names, sorted."""
        return sorted([*BUILTIN_VERBS, *self._plugin_commands(ctx)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the built-in verb ``cmd_name`` (imported now), else a plugin's."""
        if cmd_name in BUILTIN_VERBS:
            module, _, name = BUILTIN_VERBS[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), name)
            return command
        return self._plugin_commands(ctx).get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the verb; turn errors into one-line messages (``--traceback`` keeps them whole).

        Besides beatcore's own errors, a store's client library may raise its own; the core
        cannot name those, so any other error is shown as one line with its type and the
        store URL.
        """
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except BeatcoreError as exc:
            raise Failure(str(exc), exit_code_of(exc)) from None
        except Exception as exc:
            if isinstance(exc, BrokenPipeError) and _output_gone():
                raise  # a reader that went away (``export | head``): click exits 1 quietly
            if ctx.find_root().meta.get(_TRACEBACK_KEY):
                raise
            raise Failure(_unexpected(ctx, exc), EXIT_ERROR) from None


def _unexpected(ctx: click.Context, exc: BaseException) -> str:
    """The one line of an error beatcore cannot name: its type, its text, the store."""
    kind = type(exc)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return f"{name}: {exc} (store {_store_url(ctx)}; add --traceback after 'beatcore' for details)"


def _output_gone() -> bool:
    """Whether standard output is a pipe whose reader closed it (so a broken pipe is that,
    not a store's connection): poll reports an error on it. Where that cannot be asked
    (no descriptor, no poll), a broken pipe is taken to be the output's."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


def _store_url(ctx: click.Context) -> str:
    session = existing_session(ctx)
    return mask_password(session.settings.url) if session is not None else "?"


@click.group("beatcore", cls=BeatcoreGroup)
@click.option(
    "-s",
    "--schedule",
    metavar="FILE",
    help="celery beat's --schedule file: with no beatcore_url the store is the SQLite file "
    "beside it, as beat finds it (default: beat_schedule_filename, celerybeat-schedule).",
)
@click.option("--url", metavar="URL", help="The store's URL (instead of beatcore_url or -s).")
@click.option("--traceback", is_flag=True, help="Show the full traceback of unexpected errors.")
@click.pass_context
def beatcore(ctx: click.Context, schedule: str | None, url: str | None, traceback: bool) -> None:
    """Manage beatcore's schedule and check beat's health.

    Uses the app given with "celery -A": its beatcore_url, else the SQLite file beside beat's
    schedule file (-s). Verbs that only read (list, show, status, export) never create a
    store: a store that is not there is an error naming where the CLI looked (exit 3).
    """
    root = ctx.find_root()
    root.meta[_TRACEBACK_KEY] = traceback
    root.meta[LOCATION_KEY] = Location(url=url, schedule=schedule)
