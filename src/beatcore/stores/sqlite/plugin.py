"""The SQLite store's plugin hooks: which URLs it opens, with which options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beatcore.errors import ConfigurationError
from beatcore.hookspecs import hookimpl
from beatcore.store import Store
from beatcore.stores.sqlite.store import DEFAULT_BUSY_TIMEOUT, SqliteStore
from beatcore.stores.sqlite.url import database_path
from beatcore.timeutil import utc_now
from beatcore.values import is_number

_KNOWN_OPTIONS = frozenset({"clock", "default_timezone", "key_prefix", "busy_timeout"})


def _busy_timeout(options: Mapping[str, Any]) -> float:
    value = options.get("busy_timeout", DEFAULT_BUSY_TIMEOUT)
    if not is_number(value) or value < 0:
        raise ConfigurationError(
            f"SQLite store option busy_timeout must be a number of seconds >= 0, got {value!r}"
        )
    return float(value)


@hookimpl
def beatcore_store_from_url(url: str, options: Mapping[str, Any]) -> Store | None:
    """Open ``sqlite:///relative/path`` or ``sqlite:////absolute/path``."""
    path = database_path(url)
    if path is None:
        return None
    unknown = sorted(set(options) - _KNOWN_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unknown SQLite store option(s) {', '.join(map(repr, unknown))} for {url!r} "
            f"(beatcore_store_options); the SQLite store takes: busy_timeout"
        )
    return SqliteStore(
        path,
        clock=options.get("clock") or utc_now,
        default_timezone=options.get("default_timezone"),
        busy_timeout=_busy_timeout(options),
    )


@hookimpl
def beatcore_store_missing(url: str, options: Mapping[str, Any]) -> str | None:
    """Say that the file of a ``sqlite:///`` URL does not exist (opening would create it)."""
    path = database_path(url)
    if path is None or path.exists():
        return None
    return f"file {path} does not exist"
