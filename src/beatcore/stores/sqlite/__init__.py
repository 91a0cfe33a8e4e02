"""The embedded default store: one SQLite file, ``sqlite:///path`` (see docs/sqlite.rst).

The package is split by what each module holds: :mod:`.url` (which file a URL names),
:mod:`.schema` (schema version, migrations, opening a file), :mod:`.database` (the
connection, transactions, the leadership row), :mod:`.lock` (the fenced lock) and
:mod:`.store` (the entries: :class:`SqliteStore` and the plugin hooks, which this package
exports so that registering it registers them).
"""

from beatcore.stores.sqlite.store import (
    DEFAULT_BUSY_TIMEOUT,
    SqliteStore,
    beatcore_store_from_url,
    beatcore_store_missing,
)

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "SqliteStore",
    "beatcore_store_from_url",
    "beatcore_store_missing",
]
