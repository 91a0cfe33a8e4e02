"""The hookimpls that register the PostgreSQL store with beatcore (entry point ``beatcore``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from beatcore.errors import ConfigurationError
from beatcore.hookspecs import hookimpl
from beatcore.store import Store
from beatcore.timeutil import utc_now
from beatcore_postgres.urls import is_postgres_url, parse_url

if TYPE_CHECKING:
    from beatcore_postgres.store import PostgresStore


@hookimpl
def beatcore_store_from_url(url: str, options: Mapping[str, Any]) -> Store | None:
    """Open a PostgreSQL store for a ``postgresql://`` or ``postgres://`` URL; None otherwise.

    psycopg is imported only here, when a PostgreSQL URL is actually used.
    """
    if not is_postgres_url(url):
        return None
    try:
        import psycopg  # noqa: F401 - the driver must be there before anything is opened
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"a PostgreSQL beatcore_url needs psycopg 3 and its pool: pip install "
            f"'beatcore[postgres]' ({exc})"
        ) from exc
    return open_store(url, options)


@hookimpl
def beatcore_store_missing(url: str, options: Mapping[str, Any]) -> str | None:
    """Say that a PostgreSQL schedule has no tables yet (its first use would create them).

    Called by ``celery beatcore`` before a verb that only reads. One connection; None when
    the tables exist, or when the server cannot tell (opening the store then says why).
    """
    if not is_postgres_url(url):
        return None
    try:
        import psycopg

        from beatcore_postgres.schema import quoted
    except ImportError:
        return None
    try:
        spec = parse_url(url, options)
    except ConfigurationError:
        return None
    try:
        with psycopg.connect(spec.conninfo, autocommit=True) as conn:
            row = conn.execute(
                "SELECT to_regclass(%s), current_database()",
                (f"{quoted(spec.schema)}.schema_version",),
            ).fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0] is not None:
        return None
    return f"schema {spec.schema!r} of database {row[1]!r} holds no beatcore schedule"


@hookimpl
def beatcore_cli_commands() -> Sequence[Any]:
    """Add ``migrate-from-django-celery-beat`` to ``celery beatcore`` (imported only when the
    CLI runs)."""
    from beatcore_postgres.django_beat import migrate_from_django_celery_beat

    return [migrate_from_django_celery_beat]


#: beatcore_store_options the store takes (besides what the core always passes).
_KNOWN_OPTIONS = frozenset(
    {
        "clock",
        "default_timezone",
        "key_prefix",
        "schema",
        "pool_size",
        "pool_timeout",
        "retry_attempts",
        "retry_backoff_base",
        "retry_backoff_cap",
        "prepare_threshold",
    }
)


def open_store(url: str, options: Mapping[str, Any]) -> PostgresStore:
    """Open the PostgreSQL store for ``url`` with ``options`` (``beatcore_store_options`` plus
    ``key_prefix``, ``default_timezone`` and ``clock``); called by the hook above.

    Nothing is sent to the server until the first call, which creates or migrates the tables.
    psycopg is imported here, when a PostgreSQL URL is actually used.

    :raises ConfigurationError: the URL or an option is malformed.
    """
    unknown = sorted(set(options) - _KNOWN_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unknown PostgreSQL store option(s) {', '.join(map(repr, unknown))} "
            f"(beatcore_store_options); the PostgreSQL store takes: "
            f"{', '.join(sorted(_KNOWN_OPTIONS - {'clock', 'default_timezone', 'key_prefix'}))}"
        )
    from beatcore_postgres.connection import Database
    from beatcore_postgres.store import PostgresStore

    spec = parse_url(url, options)
    db = Database(
        spec,
        pool_size=options.get("pool_size", 4),
        pool_timeout=options.get("pool_timeout", 2.0),
        attempts=options.get("retry_attempts", 6),
        backoff_base=options.get("retry_backoff_base", 0.1),
        backoff_cap=options.get("retry_backoff_cap", 2.0),
        prepare_threshold=options.get("prepare_threshold", 5),
    )
    return PostgresStore(
        spec,
        db,
        clock=options.get("clock") or utc_now,
        default_timezone=options.get("default_timezone"),
    )
