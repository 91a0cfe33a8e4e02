"""The hookimpls that register the Redis store with beatcore (entry point ``beatcore``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from beatcore.errors import MissingExtra
from beatcore.hookspecs import hookimpl
from beatcore.store import Store

#: URL schemes this plugin opens.
SCHEMES = (
    "redis",
    "rediss",
    "redis+sentinel",
    "rediss+sentinel",
    "sentinel",
    "redis+cluster",
    "rediss+cluster",
)


@hookimpl
def beatcore_store_from_url(url: str, options: Mapping[str, Any]) -> Store | None:
    """Open a Redis store for a Redis URL; None for any other scheme.

    redis-py is imported only here, when a Redis URL is actually used.

    :raises MissingExtra: redis-py is not installed (the ``redis`` extra).
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        return None
    try:
        from beatcore_redis.store import open_store
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "redis":
            raise
        raise MissingExtra("redis", f"the Redis store ({scheme}://)", exc.name) from exc

    return open_store(url, options)


@hookimpl
def beatcore_store_missing(url: str, options: Mapping[str, Any]) -> str | None:
    """Say that no beatcore schedule is under the key prefix at a Redis URL (a wrong database
    number or prefix), so ``celery beatcore list`` does not report an empty schedule there.

    A schedule exists once beat or a management client wrote to it: its ``meta`` hash or its
    fencing counter is there. Reading never creates either.
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        return None
    store = beatcore_store_from_url(url, {**options, "startup_checks": False})
    assert store is not None
    from beatcore_redis.store import RedisStore

    assert isinstance(store, RedisStore)
    try:
        keys = store.keys
        found = store.calls.call(
            "look for the schedule", lambda: store.client.exists(keys.meta, keys.fence)
        )
    finally:
        store.close()
    if found:
        return None
    return (
        f"no beatcore schedule under key prefix {keys.prefix!r} (neither {keys.meta} nor "
        f"{keys.fence} exists; check the database number and beatcore_key_prefix)"
    )


@hookimpl
def beatcore_cli_commands() -> Sequence[Any]:
    """Add ``migrate-from-redbeat`` to ``celery beatcore`` (imported only when the CLI runs)."""
    from beatcore_redis.redbeat import migrate_from_redbeat

    return [migrate_from_redbeat]
