"""A Redis store on a fakeredis server of its own, for tests of the Redis-only parts."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis

from beatcore.testing import FakeClock
from beatcore_redis.store import RedisStore, open_store


def fake_redis_store(clock: FakeClock) -> Iterator[RedisStore]:
    """Yield a store on an empty fakeredis server using ``clock``; close it afterwards."""
    client = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
    store = open_store("redis://fake:6379/0", {"client": client, "clock": clock})
    yield store
    store.close()
