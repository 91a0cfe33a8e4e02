"""The embedded default store: one SQLite file, ``sqlite:///path`` (see docs/sqlite.rst).

The package is split by what each module holds: :mod:`.url` (which file a URL names),
:mod:`.schema` (schema version, migrations, opening a file), :mod:`.database` (the
connection, transactions, the leadership row), :mod:`.lock` (the fenced lock), :mod:`.store`
(the entries: :class:`SqliteStore`) and :mod:`.plugin` (the plugin hooks and store options,
which this package exports so that registering it registers them).
"""

from beatcore.stores.sqlite.plugin import beatcore_store_from_url, beatcore_store_missing
from beatcore.stores.sqlite.store import DEFAULT_BUSY_TIMEOUT, SqliteStore

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "SqliteStore",
    "beatcore_store_from_url",
    "beatcore_store_missing",
]
