"""Which file a ``sqlite:///`` URL names."""

from __future__ import annotations

import os
from pathlib import Path

from beatcore.errors import ConfigurationError

_URL_FORMS = "use sqlite:///relative/path or sqlite:////absolute/path"


def database_path(url: str) -> Path | None:
    """Return the absolute path a ``sqlite:///`` URL names, or None for another scheme.

    ``sqlite:///relative/path`` is relative to the current directory when the store is
    opened; ``sqlite:////absolute/path`` is absolute.

    :raises ConfigurationError: a sqlite URL that names no file, has a host, a query string,
        or asks for an in-memory database (which no other process could see).
    """
    scheme, _, rest = url.partition(":")
    if scheme.lower() != "sqlite":
        return None
    if not rest.startswith("///"):
        raise ConfigurationError(
            f"malformed SQLite URL {url!r}: expected three slashes after 'sqlite:' and no "
            f"host; {_URL_FORMS}"
        )
    path = rest[3:]
    if not path or path.endswith("/"):
        raise ConfigurationError(f"malformed SQLite URL {url!r}: it names no file; {_URL_FORMS}")
    if "?" in path or "#" in path:
        raise ConfigurationError(
            f"malformed SQLite URL {url!r}: query strings are not supported; pass options "
            f"(busy_timeout) through beatcore_store_options"
        )
    if path == ":memory:" or path.startswith("file:"):
        raise ConfigurationError(
            f"unsupported SQLite URL {url!r}: the schedule must be a file that beat and its "
            f"clients share; {_URL_FORMS} (memory:// is the in-process store)"
        )
    return Path(os.path.abspath(path))
