"""``beatcore -A proj VERB``: the same verbs as ``celery -A proj beatcore VERB``, started faster.

``celery`` imports every one of its own commands (and an interactive shell) before it runs
one; this console script imports only the app and the verb it runs, so a frequent health check
(``beatcore -A proj status``) costs less. The app is found as ``celery -A`` finds it
(``proj``, ``proj.celery``, ``proj:app``; the ``CELERY_APP`` variable when ``-A`` is not
given), with the current directory on the import path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from types import SimpleNamespace

import click

from beatcore.cli.exits import EXIT_USAGE

_USAGE = "usage: beatcore -A APP [--schedule FILE] [--url URL] VERB [OPTIONS]"


def split_app(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Return the ``-A/--app`` value (else ``$CELERY_APP``) and the other arguments.

    ``-A`` must come before the verb, as for ``celery``.
    """
    args = list(argv)
    app = os.environ.get("CELERY_APP") or None
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-A", "--app") and i + 1 < len(args):
            app = args[i + 1]
            i += 2
            continue
        if arg.startswith("--app="):
            app = arg.split("=", 1)[1]
        elif arg.startswith("-A") and len(arg) > 2:
            app = arg[2:]
        else:
            rest = args[i:]
            break
        i += 1
    return app, rest


def main(argv: Sequence[str] | None = None) -> None:
    """Run one verb against the app named by ``-A`` (the ``beatcore`` console script)."""
    app_name, rest = split_app(sys.argv[1:] if argv is None else argv)
    if not app_name:
        click.echo(f"{_USAGE}\nError: give the Celery app with -A (as for celery)", err=True)
        raise SystemExit(EXIT_USAGE)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from celery.app.utils import find_app

    try:
        app = find_app(app_name)
    except Exception as exc:  # an app that does not import: one line, as celery -A says it
        click.echo(f"Error: cannot load the Celery app {app_name!r}: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    from beatcore.cli import beatcore

    beatcore.main(args=rest, obj=SimpleNamespace(app=app), prog_name="beatcore")
