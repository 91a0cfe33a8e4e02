"""Redis stores for tests: where a store's keys are, clearing them, and the store opened on
fakeredis or on the session's real server (the tests parametrized over both)."""

from __future__ import annotations

import uuid
from typing import Any

import fakeredis
import pytest

from beatcore_redis.store import RedisStore


def store_keys(store: RedisStore) -> list[bytes]:
    """Return every key under ``store``'s prefix (the braces of a hash tag matched as such)."""
    return list(store.client.keys(store.keys.base.replace("{", "[{]") + "*"))


def delete_store_keys(store: RedisStore) -> None:
    """Delete every key under ``store``'s prefix, as a test's teardown (or a restart without
    persistence) does."""
    keys = store_keys(store)
    if keys:
        store.client.delete(*keys)


def fake_or_real(
    request: pytest.FixtureRequest, stem: str, options: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Return the URL and the options to open a store for a fixture parametrized over
    ``"fakeredis"`` (a server of its own) and ``"real"`` (the ``redis_server`` fixture), with
    ``options`` and a key prefix of its own starting ``stem``."""
    options = {**options, "key_prefix": f"{stem}-{uuid.uuid4().hex[:10]}:"}
    if request.param == "fakeredis":
        options["client"] = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
        return "redis://fake/0", options
    return request.getfixturevalue("redis_server").url, options
