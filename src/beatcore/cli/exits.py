"""The exit codes of ``celery beatcore`` (docs/cli.rst lists them), and errors carrying them.

=====  ==================================================================================
code   meaning
=====  ==================================================================================
0      done; for ``status``: healthy
1      unhealthy (``status``), or the verb failed (no such entry, a refused change, ...)
2      usage or configuration error: a bad option or value, a bad setting, a missing extra
3      the store cannot be opened: it does not exist where the CLI looked (read-only verbs
       never create one), or it did not answer within ``--timeout``
=====  ==================================================================================
"""

from __future__ import annotations

import click

from beatcore.errors import BeatcoreError, ConfigurationError, StoreNotFound, StoreUnavailable

EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_STORE_UNREACHABLE = 3


class Failure(click.ClickException):
    """A one-line error with its exit code (click prints ``Error: message``)."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc, unused-ignore]  # ClassVar in click >= 8.5


def exit_code_of(error: BeatcoreError) -> int:
    """Return the exit code for a beatcore error that ends a verb."""
    if isinstance(error, (StoreUnavailable, StoreNotFound)):
        return EXIT_STORE_UNREACHABLE
    if isinstance(error, ConfigurationError):
        return EXIT_USAGE
    return EXIT_ERROR
