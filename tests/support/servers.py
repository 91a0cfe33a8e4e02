"""Server processes for tests, whatever the server: what every test server has in common.

A :class:`ServerProcess` runs one server binary on a free 127.0.0.1 port in a directory of its
own, waits until it answers, and stops it with SIGTERM then SIGKILL; a subclass says only how
to start it (:meth:`~ServerProcess.command`) and how to tell that it is ready
(:meth:`~ServerProcess.ready`). :func:`serve` is the body of every session fixture: start,
hand the server to the tests, stop it even when they fail. A server that does not answer in
time fails with its log attached, so a broken setup says why instead of hanging.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
"""Seconds a server gets to answer after it was started."""
STOP_TIMEOUT = 5.0
"""Seconds a server gets to exit after SIGTERM before it is killed."""


class ServerError(RuntimeError):
    """A test server could not be started or configured; the message carries its log."""


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the kernel picks it for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    not_yet: tuple[type[BaseException], ...] = (OSError,),
) -> None:
    """Poll ``predicate`` every 50 ms until it is true; an exception of a type in ``not_yet``
    counts as false (the server is still starting).

    :raises ServerError: after ``timeout`` seconds, naming ``what`` was awaited.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except not_yet:
            pass
        if time.monotonic() >= deadline:
            raise ServerError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def log_tail(path: Path, chars: int = 3000) -> str:
    """The end of the log at ``path``, for error messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


class ServerProcess:
    """One server process on a loopback port, in ``workdir`` (created if missing).

    :param port: the port to listen on; by default a free one, and another free one if that
        was taken between choosing it and the server's bind.
    """

    #: Exceptions that :meth:`ready` may raise while the server is still starting.
    not_ready: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = port if port is not None else free_port()
        self._port_chosen_here = port is None
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The command line that starts the server on :attr:`port`."""
        raise NotImplementedError

    def ready(self) -> bool:
        """True once the server answers (called every 50 ms after the start)."""
        raise NotImplementedError

    def start(self, timeout: float = START_TIMEOUT, attempts: int = 3) -> None:
        """Start the process and wait until it is :meth:`ready`.

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
        )  # same process group as pytest: `timeout pytest ...` or Ctrl-C stops servers too
        try:
            wait_until(self._answers, timeout, f"{self} to answer", self.not_ready)
        except ServerError as exc:
            code = self.proc.poll()
            stderr = b""
            if code is not None and self.proc.stderr is not None:
                stderr = self.proc.stderr.read()
            self.stop()
            raise ServerError(
                f"{exc}; exit code {code}; stderr: {stderr.decode(errors='replace')!r}\n"
                f"--- {self.log} ---\n{log_tail(self.log)}"
            ) from None

    def _answers(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise ServerError(f"{self} exited")
        return self.ready()

    def stop(self) -> None:
        """Stop the process: SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; safe twice."""
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

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}>"


class Server(Protocol):
    """Anything a session fixture serves: a process, a group of them, a managed cluster."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Server)


def serve(server: S) -> Iterator[S]:
    """Start ``server``, yield it, stop it: the body of a fixture (``yield from serve(...)``).

    A server whose start fails halfway is stopped too (what did start is cleaned up).
    """
    try:
        server.start()
        yield server
    finally:
        server.stop()
