"""What the midnight burst (:mod:`bench.burst`) measures besides its own counts: the waits
for each server's replies in this process, its peak RSS, and the servers' own time per command
from their ``SLOWLOG``; and the messages the broker holds afterwards."""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path
from typing import Any

from beatcore_redis.scripts import SCRIPT_NAMES, script_source
from bench.measure import proc_status_mb
from bench.servers import RedisServer


class ReplyWaits:
    """Seconds this process spends in redis-py's ``read_response`` (the client waiting for
    a reply: the server's time, the wire and the client's own parse) and how many replies
    it read, by server port; on while :meth:`start`-ed."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self.replies: dict[int, int] = {}
        #: replies not there yet when the client asked for them (it had to wait)
        self.waited: dict[int, int] = {}
        self._original: Any = None

    def start(self) -> None:
        from redis.connection import AbstractConnection

        original = self._original = AbstractConnection.read_response
        seconds, replies, clock = self.seconds, self.replies, time.perf_counter
        waited = self.waited

        def read_response(conn: Any, *args: Any, **kwargs: Any) -> Any:
            port = int(getattr(conn, "port", 0) or 0)
            try:
                ready = bool(conn.can_read(timeout=0))
            except Exception:  # a broken connection: its read raises below
                ready = False
            if not ready:
                waited[port] = waited.get(port, 0) + 1
            began = clock()
            try:
                return original(conn, *args, **kwargs)
            finally:
                seconds[port] = seconds.get(port, 0.0) + clock() - began
                replies[port] = replies.get(port, 0) + 1

        AbstractConnection.read_response = read_response  # type: ignore[method-assign]

    def stop(self) -> None:
        from redis.connection import AbstractConnection

        if self._original is not None:
            AbstractConnection.read_response = self._original  # type: ignore[method-assign]
            self._original = None


def peak_mb() -> float:
    """This process's peak RSS in MB since the last :func:`reset_peak` (``VmHWM``; where
    /proc is missing, ``ru_maxrss``, which a child inherits from its parent)."""
    return proc_status_mb("VmHWM")


def reset_peak() -> None:
    """Start the peak RSS afresh (Linux: ``5`` into /proc/self/clear_refs), so the burst's
    peak is its own; elsewhere the peak stays the process's."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


#: Commands a slow log keeps at most (far more than a 100k burst's script calls and writes).
_SLOWLOG_LEN = 1_000_000


def start_slowlog(server: RedisServer, threshold_us: int) -> None:
    """Log the commands ``server`` runs from now on that take ``threshold_us`` or more, the
    log emptied."""
    with server.client() as client:
        client.config_set("slowlog-log-slower-than", threshold_us)
        client.config_set("slowlog-max-len", _SLOWLOG_LEN)
        client.slowlog_reset()


def server_time(server: RedisServer) -> dict[str, dict[str, float]]:
    """Return what ``server`` logged since :func:`start_slowlog`, by command (a script call
    by its script's name: ``evalsha claim``; the commands a script ran left out, their time
    is the script's): calls, microseconds in all and per call. The log is switched off
    again."""
    names = {hashlib.sha1(script_source(name).encode()).hexdigest(): name for name in SCRIPT_NAMES}
    with server.client() as client:
        logged = client.execute_command("SLOWLOG", "GET", -1)
        client.config_set("slowlog-log-slower-than", 10_000)
        client.slowlog_reset()
    found: dict[str, list[int]] = {}
    for item in logged:
        args = [a.decode() if isinstance(a, bytes) else str(a) for a in item[3][:2]]
        command = args[0].lower()
        if command in ("slowlog", "config") or item[4] in (b"?:0", "?:0"):
            continue
        if command == "evalsha" and len(args) > 1:
            command = f"evalsha {names.get(args[1], args[1][:8])}"
        calls_usec = found.setdefault(command, [0, 0])
        calls_usec[0] += 1
        calls_usec[1] += int(item[2])
    return {
        command: {"calls": calls, "usec": usec, "usec_per_call": usec / calls}
        for command, (calls, usec) in sorted(found.items())
    }


def queued(broker: RedisServer) -> int:
    """Messages on the default queue (every priority step) of the broker's db 0."""
    with broker.client() as client:
        return sum(int(client.llen(key)) for key in client.scan_iter("celery*"))
