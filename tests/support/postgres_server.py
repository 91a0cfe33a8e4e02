"""A real PostgreSQL server for tests: ``initdb`` into a temporary directory, ``pg_ctl`` start.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) every server
command runs as the unprivileged ``postgres`` user the Debian package creates (``runuser``),
in a directory under the system temporary directory owned by that user (pytest's own temporary
directories are private to root). The server listens on 127.0.0.1 only, on a free port, with
password authentication over TCP. fsync is off (a crash of the server process keeps every
commit, the operating system still has it; a crash of the machine is not tested).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from tests.support.servers import HOST, ServerError, free_port, log_tail

START_TIMEOUT = 60.0
"""Seconds ``pg_ctl start`` gets to see the server accept connections."""
STOP_TIMEOUT = 30.0
"""Seconds ``pg_ctl stop`` gets (fast mode) before the server is killed."""
SERVER_USER = "postgres"
"""The unprivileged user that runs the server when the tests run as root."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (the newest installed major version).

    :raises ServerError: PostgreSQL's server binaries are not installed.
    """
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise ServerError(
        "PostgreSQL server binaries (initdb, pg_ctl) are not installed; run .ci/setup "
        "(Debian package postgresql)"
    )


class PostgresServer:
    """One PostgreSQL cluster on a loopback port, for a test session.

    ``.url`` connects as the superuser with its password; :meth:`url_for` names another
    database. Call :meth:`start` once and :meth:`stop` at the end; :meth:`restart` simulates
    a server restart (connections are cut, data kept).
    """

    def __init__(self, password: str = "s3cret-pw") -> None:
        self.bindir = find_bindir()
        self.host = HOST
        self.port = free_port()
        self.user = SERVER_USER
        self.password = password
        self._as_root = os.geteuid() == 0
        self.workdir = Path(tempfile.mkdtemp(prefix="beatcore-pg-"))
        self.datadir = self.workdir / "data"
        self.log = self.workdir / "server.log"
        self._started = False
        if self._as_root:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name

    # -- commands --------------------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(
            command,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(
                f"{' '.join(args[:2])} failed with exit code {result.returncode}: "
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}\n--- {self.log} ---\n"
                f"{log_tail(self.log)}"
            )
        return result

    def _init(self) -> None:
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_root:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D", str(self.datadir),
            "-U", self.user,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()

    def start(self, attempts: int = 3) -> None:
        """Create the cluster (first call) and start the server; wait until it accepts.

        A port taken by another process between :func:`free_port` and the bind makes the
        start fail; another free port is tried.

        :raises ServerError: with the server's log, when it does not start.
        """
        if not self.datadir.exists():
            self._init()
        for attempt in range(attempts):
            try:
                self._start_once()
                self._started = True
                return
            except ServerError:
                if attempt == attempts - 1:
                    raise
                self.port = free_port()

    def _start_once(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-c listen_addresses={self.host}",
                f"-c unix_socket_directories={self.workdir}",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            "pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.log),
            "-w", "-t", str(int(START_TIMEOUT)), "-o", options,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory; safe to call twice."""
        if self._started:
            self._started = False
            try:
                self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w")
            except (ServerError, subprocess.TimeoutExpired):
                self._kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self) -> None:
        """Stop the server at once (immediate mode, like a crash) and start it again."""
        self.stop_server()
        self._start_once()

    def stop_server(self) -> None:
        """Stop the server at once (immediate mode), keeping its data; :meth:`start` again."""
        self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w")

    def _kill(self) -> None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    # -- access ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``postgresql://USER:PASSWORD@127.0.0.1:PORT/postgres``."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """The URL of ``database`` on this server, as the superuser with its password."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(database, safe='')}"
        )

    def create_database(self, prefix: str = "db") -> str:
        """Create a new, empty database and return its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._run("createdb", "-h", str(self.workdir), "-p", str(self.port), "-U", self.user, name)
        return name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port}>"
