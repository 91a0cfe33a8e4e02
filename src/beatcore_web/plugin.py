"""The dashboard's hookimpls: the ``web`` verb of ``celery beatcore``.

Registered through the ``beatcore`` entry point group, as any third-party plugin would be;
importing this module imports no web library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beatcore import hookimpl


@hookimpl
def beatcore_cli_commands() -> Sequence[Any]:
    """Add ``web`` to ``celery beatcore`` (imported only when the CLI lists its verbs)."""
    from beatcore_web.command import web

    return [web]
