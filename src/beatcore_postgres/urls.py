"""``postgresql://`` and ``postgres://`` URLs: parsed, validated, and shown with passwords masked.

The URL is libpq's own connection URI: user, password, hosts and ports (several, comma
separated, for libpq's failover), database, and any libpq parameter in the query string
(``sslmode``, ``sslrootcert``, ``target_session_attrs``, ``options``, ...), all passed through
to libpq unchanged. One query parameter is beatcore's own and is taken out before libpq sees
it: ``schema``, the PostgreSQL schema holding this schedule's tables, so several schedules can
share one database (like ``beatcore_key_prefix`` for Redis).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import attrs

from beatcore.errors import ConfigurationError
from beatcore.urls import mask_password

#: URL schemes this package opens.
SCHEMES = ("postgresql", "postgres")
#: The schema a schedule's tables live in unless the URL or the options name another.
DEFAULT_SCHEMA = "beatcore"
#: Seconds libpq waits for a connection unless the URL says otherwise (libpq's own default is
#: to wait for the operating system, minutes; a store call must fail in time to be retried).
DEFAULT_CONNECT_TIMEOUT = 5
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_QUERY_PASSWORD = re.compile(r"(?i)(?P<key>(?:^|[?&])password=)[^&#]*")
_URL_FORMS = (
    "expected postgresql://user:password@host:port/database?sslmode=...&schema=... "
    "(libpq's connection URI; postgres:// works too)"
)


def mask_url(url: str) -> str:
    """Return ``url`` with the password masked, in the user part and in the query string.

    Called wherever a PostgreSQL URL reaches a log line, an error or status output.
    """
    return _QUERY_PASSWORD.sub(r"\g<key>****", mask_password(url))


@attrs.frozen
class PostgresSpec:
    """A parsed store URL.

    :param conninfo: what libpq gets (``key=value`` form, the password included: never log it).
    :param schema: the PostgreSQL schema of this schedule's tables.
    :param masked_url: the URL with its password masked, for people.
    :param channel: the ``LISTEN``/``NOTIFY`` channel of this schedule.
    """

    conninfo: str = attrs.field(repr=False)
    schema: str
    masked_url: str

    @property
    def channel(self) -> str:
        """``beatcore_<schema>`` (a schedule's changes are announced on it)."""
        return f"beatcore_{self.schema}"


def is_postgres_url(url: str) -> bool:
    """True when ``url``'s scheme is one this package opens."""
    return url.split("://", 1)[0].lower() in SCHEMES


def parse_url(url: str, options: Mapping[str, Any]) -> PostgresSpec:
    """Parse a store URL and the ``schema`` option into a :class:`PostgresSpec`.

    Called once per store when it is opened. The schema comes from the URL's ``schema``
    query parameter or ``options["schema"]`` (naming it in both with different values is an
    error), else :data:`DEFAULT_SCHEMA`.

    :raises ConfigurationError: not a PostgreSQL URL, a malformed URL or port, a parameter
        libpq does not know, or a schema name that is not a plain lowercase identifier.
    """
    import psycopg  # here: the plugin reads SCHEMES without importing the driver
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    masked = mask_url(url)
    if not is_postgres_url(url):
        raise ConfigurationError(f"not a PostgreSQL URL: {masked!r}; {_URL_FORMS}")
    # The query string is split by hand, not decoded and encoded again: libpq's own
    # percent-decoding (no '+' for space) must see exactly what the user wrote.
    base, _, rest = url.partition("?")
    query, hash_mark, fragment = rest.partition("#")
    items = [item for item in query.split("&") if item]
    from_url = [unquote(item[7:]) for item in items if item.startswith("schema=")]
    passed = [item for item in items if not item.startswith("schema=")]
    if len(from_url) > 1:
        raise ConfigurationError(f"PostgreSQL URL {masked!r} names 'schema' more than once")
    schema = _schema(masked, from_url[0] if from_url else None, options.get("schema"))
    libpq_url = base + ("?" + "&".join(passed) if passed else "") + hash_mark + fragment
    try:
        params = conninfo_to_dict(libpq_url)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(
            f"malformed PostgreSQL URL {masked!r}: {mask_url(str(exc).strip())}; {_URL_FORMS}"
        ) from exc
    _check_ports(masked, str(params.get("port") or ""))
    params.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    params.setdefault("application_name", "beatcore")
    return PostgresSpec(conninfo=make_conninfo("", **params), schema=schema, masked_url=masked)


def _schema(masked: str, from_url: str | None, from_options: object) -> str:
    if from_url is not None and from_options is not None and from_url != from_options:
        raise ConfigurationError(
            f"PostgreSQL URL {masked!r} names schema {from_url!r} but beatcore_store_options "
            f"names schema {from_options!r}; name it in one place"
        )
    schema = from_url if from_url is not None else from_options
    if schema is None:
        return DEFAULT_SCHEMA
    if not isinstance(schema, str) or not _SCHEMA_NAME.match(schema):
        raise ConfigurationError(
            f"PostgreSQL schema {schema!r} (for {masked!r}) must be a lowercase identifier: "
            f"a letter or '_' then up to 62 letters, digits or '_'"
        )
    return schema


def _check_ports(masked: str, ports: str) -> None:
    for port in ports.split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigurationError(
                f"malformed PostgreSQL URL {masked!r}: port {port!r} is not a number from 1 "
                f"to 65535"
            )
