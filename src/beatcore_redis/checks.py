"""Startup checks of a Redis store: what could silently lose or corrupt the schedule.

Run once when a scheduler starts (the first static sync). Each finding is logged as a warning
a person on call can act on; none stops beat, since a managed Redis may forbid the commands
that would tell (CONFIG is often disabled there).
"""

from __future__ import annotations

from typing import Any

from celery.utils.log import get_logger
from redis.exceptions import ResponseError

from beatcore import storekit
from beatcore_redis.handle import RedisHandle
from beatcore_redis.keys import OWNER_MARK, SCHEMA_VERSION, describe_wrong_types

logger = get_logger("beatcore.redis")

#: Eviction policies that never evict a key without a TTL; beatcore's data keys have none
#: (only the lock expires, by design).
SAFE_POLICIES = frozenset(
    {"noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}
)


def _is_cluster(client: Any) -> bool:
    return hasattr(client, "get_nodes")


def _replica_and_policy(handle: RedisHandle) -> list[str]:
    warnings: list[str] = []
    client = handle.client
    try:
        role = storekit.text(client.info("replication").get("role", "master"))
    except ResponseError as exc:
        logger.info("beatcore: cannot read INFO replication from %s: %s", handle.url, exc)
        role = "master"
    if role not in ("master", "primary"):
        warnings.append(
            f"Redis at {handle.url} is a replica (role {role}); writes will fail. Point "
            "beatcore_url at the master, or use redis+sentinel:// so the master is found"
        )
    try:
        config = client.config_get("maxmemory-policy")
    except ResponseError as exc:
        logger.info(
            "beatcore: cannot read maxmemory-policy of %s (%s; CONFIG is often disabled on "
            "managed Redis); make sure it is noeviction or a volatile-* policy",
            handle.url,
            exc,
        )
        return warnings
    policy = storekit.text(config.get("maxmemory-policy", "")) if config else ""
    if policy and policy not in SAFE_POLICIES:
        warnings.append(
            f"Redis at {handle.url} has maxmemory-policy {policy}: under memory pressure it may "
            f"evict beatcore's keys under {handle.keys.base} and lose the schedule; use "
            "noeviction (or a volatile-* policy: beatcore's data keys have no TTL)"
        )
    return warnings


def _ownership(handle: RedisHandle) -> list[str]:
    keys = handle.keys
    pipe = handle.client.pipeline(transaction=False)
    pipe.hgetall(keys.meta)
    for key in keys.expected_types():
        pipe.exists(key)
    meta_raw, *exists = pipe.execute()
    warnings: list[str] = []
    wrong = describe_wrong_types(handle.client, keys)
    if wrong:
        return [
            f"keys under {keys.base} at {handle.url} are not beatcore's: {wrong}; choose another "
            "beatcore_key_prefix (every call touching those keys will fail)"
        ]
    meta = {storekit.text(k): storekit.text(v) for k, v in (meta_raw or {}).items()}
    if any(exists) and meta.get("owner") != OWNER_MARK:
        warnings.append(
            f"keys under {keys.base} at {handle.url} exist but carry no beatcore mark "
            f"({keys.meta} has no owner={OWNER_MARK}); another program may use this prefix"
        )
    schema = meta.get("schema")
    if schema is not None and schema.isdigit() and int(schema) > SCHEMA_VERSION:
        warnings.append(
            f"the schedule under {keys.base} at {handle.url} was written with data layout "
            f"{schema}, newer than this beatcore's {SCHEMA_VERSION}; upgrade beatcore"
        )
    return warnings


def run_checks(handle: RedisHandle) -> list[str]:
    """Check eviction policy, replica role and key ownership; log and return the warnings."""

    def checks() -> list[str]:
        found: list[str] = []
        if not _is_cluster(handle.client):
            found += _replica_and_policy(handle)
        return found + _ownership(handle)

    try:
        warnings = handle.calls.call("startup checks", checks)
    except Exception as exc:  # a check must never stop beat
        logger.warning("beatcore: startup checks of %s could not run: %s", handle.url, exc)
        return []
    for warning in warnings:
        logger.warning("beatcore: %s", warning)
    return warnings
