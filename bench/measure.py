"""What the benchmark counts: round trips, server commands, process RSS, Redis memory, time.

- **Round trips** are counted at the redis-py connection level: every call of
  ``AbstractConnection.send_packed_command`` is one request the client writes before it waits
  for the answer, so a single command is one round trip and a whole pipeline (or a Lua script
  call) is one too. Connection handshakes (HELLO, CLIENT SETINFO, SELECT) count as well. They
  are counted per server port, so the broker's traffic is told apart from the schedule's.
- **Server commands** are the difference of ``INFO commandstats`` before and after, summed
  over every command except the ``INFO`` calls of the measurement itself.
- **RSS** is ``VmRSS`` of the measuring process (``/proc/self/status``; the peak RSS from
  ``getrusage`` where ``/proc`` is missing).
- **Redis memory per entry** is the difference of ``INFO memory`` ``used_memory`` divided by N.
"""

from __future__ import annotations

import contextlib
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import redis
from redis.connection import AbstractConnection


def _port(conn: Any) -> int:
    """The server port of a redis-py connection (0: none, a Unix socket's)."""
    return int(getattr(conn, "port", 0) or 0)


class RoundTripCounter:
    """Counts client round trips per server port, for the whole process once installed."""

    def __init__(self) -> None:
        self.by_port: dict[int, int] = {}
        self._original: Callable[..., Any] | None = None

    def install(self) -> RoundTripCounter:
        """Wrap ``AbstractConnection.send_packed_command`` (idempotent)."""
        if self._original is not None:
            return self
        original = AbstractConnection.send_packed_command
        counts = self.by_port

        def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> None:
            port = _port(conn)
            counts[port] = counts.get(port, 0) + 1
            original(conn, command, check_health)  # type: ignore[no-untyped-call]

        AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]
        self._original = original
        return self

    def uninstall(self) -> None:
        """Put the original method back."""
        if self._original is not None:
            AbstractConnection.send_packed_command = self._original  # type: ignore[method-assign]
            self._original = None

    def get(self, port: int) -> int:
        """Return the round trips made so far to ``port``."""
        return self.by_port.get(port, 0)


@contextlib.contextmanager
def recorded_commands(port: int) -> Iterator[list[bytes]]:
    """Record every packed command sent to ``port`` while the body runs, each as one bytes
    object (its buffers joined), in the order sent; the yielded list fills as it goes."""
    original = AbstractConnection.send_packed_command
    recorded: list[bytes] = []

    def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> None:
        if _port(conn) == port:
            parts = [command] if isinstance(command, (bytes, memoryview, str)) else command
            recorded.append(b"".join(p.encode() if isinstance(p, str) else bytes(p) for p in parts))
        original(conn, command, check_health)  # type: ignore[no-untyped-call]

    AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]
    try:
        yield recorded
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def command_calls(client: redis.Redis) -> dict[str, int]:
    """Return ``INFO commandstats`` as ``{command: calls}``."""
    stats = client.info("commandstats")
    return {
        str(key).removeprefix("cmdstat_"): int(value["calls"])
        for key, value in stats.items()
        if isinstance(value, dict)
    }


def commands_between(before: dict[str, int], after: dict[str, int]) -> int:
    """Return how many commands the server ran between two snapshots, ``INFO`` left out."""
    return sum(calls - before.get(name, 0) for name, calls in after.items() if name != "info")


def used_memory(client: redis.Redis) -> int:
    """Return the server's ``used_memory`` in bytes."""
    return int(client.info("memory")["used_memory"])


#: Keys of one type past this many are one group of per-entry keys (RedBeat's hashes).
_PER_ENTRY_KEYS = 100


def memory_by_key(client: redis.Redis, n: int) -> dict[str, float]:
    """Return the bytes per entry each key (or group of per-entry keys of one type) takes,
    by ``MEMORY USAGE ... SAMPLES 0`` (exact; run after the timed part), plus ``"other"``:
    the rest of the ``used_memory`` growth is measured by the caller."""
    names = [key.decode() for key in client.scan_iter(count=1000)]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.type(name)
        pipe.memory_usage(name, samples=0)
    replies = pipe.execute()
    kinds = [kind.decode() if isinstance(kind, bytes) else kind for kind in replies[::2]]
    sizes = [int(size or 0) for size in replies[1::2]]
    count: dict[str, int] = {}
    for kind in kinds:
        count[kind] = count.get(kind, 0) + 1
    groups: dict[str, float] = {}
    for name, kind, size in zip(names, kinds, sizes, strict=True):
        label = f"{kind} per entry" if count[kind] > _PER_ENTRY_KEYS else f"{name} ({kind})"
        groups[label] = groups.get(label, 0.0) + size / n
    return {label: round(value, 1) for label, value in sorted(groups.items())}


def rss_mb() -> float:
    """Return this process's resident set size in MB (peak RSS where /proc is missing)."""
    return proc_status_mb("VmRSS")


def proc_status_mb(field: str) -> float:
    """Return the memory figure ``field`` (``VmRSS``, ``VmHWM``) of /proc/self/status in MB;
    where /proc is missing, the process's peak RSS (``ru_maxrss``, which a child inherits
    from its parent)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@attrs.define
class Sample:
    """One timed run of an operation: seconds, round trips and server commands."""

    seconds: float
    round_trips: int
    commands: int
    broker_round_trips: int = 0
    ticks: int = 0


@attrs.define
class Probe:
    """Measures one run of an operation against the schedule server (and the broker's)."""

    counter: RoundTripCounter
    server: redis.Redis
    port: int
    broker_port: int = 0

    @contextlib.contextmanager
    def run(self) -> Iterator[Sample]:
        """Time the body; the yielded sample is filled in when the body ends."""
        sample = Sample(0.0, 0, 0)
        before = command_calls(self.server)
        trips = self.counter.get(self.port)
        broker_trips = self.counter.get(self.broker_port)
        start = time.perf_counter()
        yield sample
        sample.seconds = time.perf_counter() - start
        sample.round_trips = self.counter.get(self.port) - trips
        sample.broker_round_trips = self.counter.get(self.broker_port) - broker_trips
        sample.commands = commands_between(before, command_calls(self.server))


def summarize(samples: list[Sample], n: int) -> dict[str, Any]:
    """Return the median of each figure over ``samples`` plus the raw seconds.

    Round trips and commands do not drift between repeats; their median is reported with the
    rest so an odd repeat (a reconnect) cannot hide.
    """

    def med(values: list[float]) -> float:
        return float(statistics.median(values))

    result: dict[str, Any] = {
        "n": n,
        "repeats": len(samples),
        "seconds": med([s.seconds for s in samples]),
        "seconds_all": [round(s.seconds, 6) for s in samples],
        "round_trips": med([s.round_trips for s in samples]),
        "commands": med([s.commands for s in samples]),
    }
    if any(s.ticks for s in samples):
        result["ticks"] = med([s.ticks for s in samples])
    if any(s.broker_round_trips for s in samples):
        result["broker_round_trips"] = med([s.broker_round_trips for s in samples])
    return result
