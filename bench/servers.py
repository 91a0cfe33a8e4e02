"""The benchmark's own ``redis-server`` processes, on free 127.0.0.1 ports.

The benchmark never touches a Redis it did not start: one server holds the schedules (beatcore's
store and RedBeat's keys, flushed between scenarios), a second one is the Celery broker, so the
broker's traffic never shows in the schedule server's command statistics.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """A redis-server could not be started; the message carries its log."""


def free_port() -> int:
    """Return a port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """Return the path of ``redis-server``.

    :raises ServerError: it is not installed (Debian package ``redis-server``).
    """
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else ""
    )
    if not path:
        raise ServerError("redis-server is not installed (Debian: apt-get install redis-server)")
    return path


class RedisServer:
    """One redis-server with no persistence, bound to 127.0.0.1 on a free port.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT`` (append ``/db``)."""
        return f"redis://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """The server process's id.

        :raises RuntimeError: the server is not running.
        """
        if self._proc is None:
            raise RuntimeError(f"the {self.name} redis-server is not running")
        return self._proc.pid

    def client(self, db: int = 0) -> redis.Redis:
        """Return a plain client (not counted by the round-trip counter's owner)."""
        return redis.Redis(host=HOST, port=self.port, db=db)

    def start(self, attempts: int = 3) -> RedisServer:
        """Start the server and wait until it answers PING (another port if one was taken).

        :raises ServerError: it exited or did not answer within 15 s, with its log.
        """
        binary = redis_server_binary()
        self._dir = tempfile.TemporaryDirectory(prefix=f"bench-{self.name}-")
        log = Path(self._dir.name) / "redis.log"
        for attempt in range(attempts):
            self.port = free_port()
            options = {
                "--bind": HOST,
                "--port": str(self.port),
                "--dir": self._dir.name,
                "--logfile": str(log),
                "--save": "",
                "--appendonly": "no",
                "--protected-mode": "no",
                "--daemonize": "no",
            }
            self._proc = subprocess.Popen(
                [binary, *(part for pair in options.items() for part in pair)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            if self._wait_ready(15.0):
                return self
            self._terminate()
            if attempt == attempts - 1:
                text = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
                raise ServerError(f"redis-server ({self.name}) did not start; log:\n{text}")
        return self

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with redis.Redis(host=HOST, port=self.port, socket_timeout=1) as client:
                    if client.ping():
                        return True
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def version(self) -> str:
        """Return the server's ``redis_version``."""
        with self.client() as client:
            return str(client.info("server")["redis_version"])

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its directory."""
        self._terminate()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
