"""The hookimpls that register the PostgreSQL store with beatcore (entry point ``beatcore``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beatcore.errors import ConfigurationError
from beatcore.hookspecs import hookimpl
from beatcore.store import Store
from beatcore_postgres.urls import is_postgres_url


@hookimpl
def beatcore_store_from_url(url: str, options: Mapping[str, Any]) -> Store | None:
    """Open a PostgreSQL store for a ``postgresql://`` or ``postgres://`` URL; None otherwise.

    psycopg is imported only here, when a PostgreSQL URL is actually used.
    """
    if not is_postgres_url(url):
        return None
    try:
        from beatcore_postgres.store import open_store
    except ImportError as exc:
        raise ConfigurationError(
            f"a PostgreSQL beatcore_url needs psycopg 3 and its pool: pip install "
            f"'beatcore[postgres]' ({exc})"
        ) from exc
    return open_store(url, options)
