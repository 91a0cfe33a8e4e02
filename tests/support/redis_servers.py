"""Real ``redis-server`` processes for tests: one class per kind of server.

Every server binds 127.0.0.1 only, keeps nothing on disk (``--save ""``, no AOF), writes its log
to its own directory, and is stopped with SIGTERM then SIGKILL. A server that does not answer in
time fails with its log attached, so a broken setup says why instead of hanging.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
"""Seconds a server gets to answer its first PING."""
STOP_TIMEOUT = 5.0
"""Seconds a server gets to exit after SIGTERM before it is killed."""


class ServerError(RuntimeError):
    """A test server could not be started or configured; the message carries its log."""


def find_binary(name: str) -> str:
    """The path of ``name`` (``redis-server``, ``redis-sentinel``, ``redis-cli``).

    :raises ServerError: when it is not installed, naming the script that installs it.
    """
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not path:
        raise ServerError(f"{name} is not installed; run .ci/setup (Debian package redis-server)")
    return path


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the kernel picks it for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 50 ms until it is true.

    :raises ServerError: after ``timeout`` seconds, naming ``what`` was awaited.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() >= deadline:
            raise ServerError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


class RedisProcess:
    """One ``redis-server`` (or ``redis-sentinel``) process on a loopback port.

    :param workdir: the directory for its config, log and working files (created if missing).
    :param args: extra command-line options, e.g. ``["--cluster-enabled", "yes"]``.
    :param binary: ``redis-server`` or ``redis-sentinel``.
    :param config: lines written to ``redis.conf`` in ``workdir`` (needed by Sentinel, which
        rewrites its config file); when ``None`` all options go on the command line.
    """

    def __init__(
        self,
        workdir: Path,
        args: list[str] | None = None,
        *,
        binary: str = "redis-server",
        config: list[str] | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = port if port is not None else free_port()
        self._port_chosen_here = port is None
        self.args = list(args or [])
        self.binary = find_binary(binary)
        self.config = config
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The command line that starts this server."""
        base = [
            "--bind", HOST,
            "--port", str(self.port),
            "--dir", str(self.workdir),
            "--logfile", str(self.log),
            "--daemonize", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        if self.config is not None:
            conf = self.workdir / "redis.conf"
            conf.write_text("\n".join(self.config) + "\n")
            return [self.binary, str(conf), *base, *self.args]
        return [self.binary, *base, "--save", "", "--appendonly", "no", *self.args]

    def start(self, timeout: float = START_TIMEOUT, attempts: int = 3) -> None:
        """Start the process and wait until it answers PING.

        A port chosen here may have been taken by another process between :func:`free_port` and
        the server's bind; then the server exits at once and another free port is tried.

        :raises ServerError: when it exits or does not answer in time (with its log).
        """
        for attempt in range(attempts):
            try:
                self._start_once(timeout)
                return
            except ServerError:
                if not self._port_chosen_here or attempt == attempts - 1:
                    raise
                self.port = free_port()

    def _start_once(self, timeout: float) -> None:
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            wait_until(self._answers, timeout, f"{self.binary} on port {self.port} to answer PING")
        except ServerError as exc:
            code = self.proc.poll()
            stderr = b""
            if code is not None and self.proc.stderr is not None:
                stderr = self.proc.stderr.read()
            self.stop()
            raise ServerError(
                f"{exc}; exit code {code}; stderr: {stderr.decode(errors='replace')!r}\n"
                f"--- {self.log} ---\n{_log_tail(self.log)}"
            ) from None

    def _answers(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise ServerError(f"{self.binary} on port {self.port} exited")
        with self._raw_client() as client:
            return bool(client.ping())

    def _raw_client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=2,
                           socket_connect_timeout=2)  # fmt: skip

    def stop(self) -> None:
        """Stop the process: SIGTERM, then SIGKILL of its group after :data:`STOP_TIMEOUT`."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()

    def kill(self) -> None:
        """SIGKILL the process at once (a crash, for failure tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    # -- access ----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """``redis://127.0.0.1:PORT/DB``."""
        return f"redis://{self.host}:{self.port}/{db}"

    def client(self, db: int = 0, **kwargs: Any) -> redis.Redis:
        """A fresh ``redis.Redis`` on this server (the caller closes it)."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        return redis.Redis(host=self.host, port=self.port, db=db, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}>"


class RedisServer(RedisProcess):
    """A standalone ``redis-server``: the broker and the plain ``redis://`` store in tests."""

    def __init__(self, workdir: Path, args: list[str] | None = None) -> None:
        super().__init__(workdir, args)
