"""Deprecated: the SQLite store's file is now split over :mod:`beatcore.stores.sqlite`.

Import from :mod:`beatcore.stores.sqlite.schema` (migrations, opening a file),
:mod:`beatcore.stores.sqlite.url` (``database_path``), :mod:`beatcore.stores.sqlite.database`
(``Database``), :mod:`beatcore.stores.sqlite.lock` (``SqliteLock``) and
:mod:`beatcore.storekit` (``to_micros``/``from_micros`` for ``micros``/``instant``).
"""

from __future__ import annotations

import warnings

from beatcore.storekit import Migration
from beatcore.storekit import from_micros as instant
from beatcore.storekit import to_micros as micros
from beatcore.stores.sqlite.database import Database
from beatcore.stores.sqlite.lock import SqliteLock
from beatcore.stores.sqlite.schema import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    open_database,
)
from beatcore.stores.sqlite.url import database_path

warnings.warn(
    "beatcore.stores.sqlite_schema is deprecated: import from the beatcore.stores.sqlite "
    "package's modules (schema, url, database, lock)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Database",
    "Migration",
    "SqliteLock",
    "database_path",
    "instant",
    "micros",
    "open_database",
]
