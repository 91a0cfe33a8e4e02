"""Round-trip counting for Redis store tests: a redis-py connection that counts its writes.

redis-py sends one command, or a whole pipeline, with one ``send_packed_command`` call and then
reads the replies, so the number of calls is the number of round trips to the server.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from redis import ConnectionPool, Redis
from redis.connection import Connection

from beatcore.store import Ack, Claim
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0
from beatcore.testing.contract.history import sent
from beatcore_redis.store import RedisStore, open_store


class RoundTrips:
    """A counter shared by every connection of one client: what it sent, the replies it
    read, and how many it had read before each send."""

    def __init__(self) -> None:
        self.count = 0
        self.commands: list[bytes] = []
        self.replies = 0
        self.read_before: list[int] = []
        self._mutex = threading.Lock()

    def record(self, packed: Any) -> None:
        first = packed[0] if isinstance(packed, list) else packed
        head = bytes(first)[:40]
        with self._mutex:
            self.count += 1
            self.commands.append(head)
            self.read_before.append(self.replies)

    def record_reply(self) -> None:
        with self._mutex:
            self.replies += 1

    def evalshas(self, sha: str = "") -> int:
        """Script calls sent (of the script whose SHA is ``sha``: any when empty)."""
        mark = sha[:10].encode()
        return sum(1 for head in self.commands if b"EVALSHA" in head.upper() and mark in head)

    def reset(self) -> None:
        with self._mutex:
            self.count = 0
            self.commands = []
            self.replies = 0
            self.read_before = []


def counting_client(host: str, port: int, db: int = 0) -> tuple[Redis, RoundTrips]:
    """Return a client on ``host:port`` and the counter of its round trips."""
    trips = RoundTrips()

    class CountingConnection(Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            trips.record(command)
            super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            trips.record_reply()
            return super().read_response(*args, **kwargs)  # type: ignore[no-untyped-call]

    pool = ConnectionPool(connection_class=CountingConnection, host=host, port=port, db=db)
    return Redis(connection_pool=pool), trips


def acks_run_once(claims: Sequence[Claim], nxt: datetime, runs: int = 1) -> list[Ack]:
    """The acks of ``claims``: each run once, next due at ``nxt``, with ``runs`` run
    records (sent at T0 + 60 s, 61 s, ...)."""
    return [
        Ack(
            c.entry.name,
            c.state,
            c.state.evolve(next_run_at=nxt, total_run_count=1),
            nxt,
            runs=tuple(sent(c.entry.name, 60 + i) for i in range(runs)),
        )
        for c in claims
    ]


def command_calls(client: Redis) -> dict[str, int]:
    """Return the server's ``INFO commandstats`` call counts by command name."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def counted_store(server: Any, stem: str) -> Iterator[tuple[RedisStore, RoundTrips]]:
    """Yield a store on ``server`` (a test redis-server) under a fresh prefix starting with
    ``stem``, whose client counts its round trips; delete its keys afterwards."""
    client, trips = counting_client(server.host, server.port)
    prefix = f"{stem}-{uuid.uuid4().hex[:12]}:"
    store = open_store(server.url, {"client": client, "clock": FakeClock(T0), "key_prefix": prefix})
    yield store, trips
    keys = client.keys(store.keys.base.replace("{", "[{]") + "*")
    if keys:
        client.delete(*keys)
    store.close()
