"""Real ``redis-server`` processes for tests: one class per kind of server.

Every server binds 127.0.0.1 only, keeps nothing on disk (``--save ""``, no AOF), writes its log
to its own directory, and is stopped with SIGTERM then SIGKILL. A server that does not answer in
time fails with its log attached, so a broken setup says why instead of hanging.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from tests.support import servers
from tests.support.certificates import CertificateFiles
from tests.support.servers import HOST, ServerError, ServerProcess, free_port

__all__ = [  # HOST, ServerError and free_port live in tests.support.servers now
    "HOST",
    "RedisClusterGroup",
    "RedisProcess",
    "RedisSentinelGroup",
    "RedisServer",
    "ServerError",
    "TlsRedisServer",
    "find_binary",
    "free_port",
    "wait_until",
]

#: :func:`tests.support.servers.wait_until`, a Redis error counting as "not yet".
wait_until = functools.partial(servers.wait_until, not_yet=(redis.RedisError, OSError))


def find_binary(name: str) -> str:
    """The path of ``name`` (``redis-server``, ``redis-sentinel``, ``redis-cli``).

    :raises ServerError: when it is not installed, naming the script that installs it.
    """
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not path:
        raise ServerError(f"{name} is not installed; run .ci/setup (Debian package redis-server)")
    return path


class RedisProcess(ServerProcess):
    """One ``redis-server`` (or ``redis-sentinel``) process on a loopback port.

    :param workdir: the directory for its config, log and working files (created if missing).
    :param args: extra command-line options, e.g. ``["--cluster-enabled", "yes"]``.
    :param binary: ``redis-server`` or ``redis-sentinel``.
    :param config: lines written to ``redis.conf`` in ``workdir`` (needed by Sentinel, which
        rewrites its config file); when ``None`` all options go on the command line.
    """

    not_ready = (redis.RedisError, OSError)

    def __init__(
        self,
        workdir: Path,
        args: list[str] | None = None,
        *,
        binary: str = "redis-server",
        config: list[str] | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(workdir, port=port)
        self.args = list(args or [])
        self.binary = find_binary(binary)
        self.config = config

    def command(self) -> list[str]:
        """The command line that starts this server."""
        base = [
            "--bind", HOST,
            *self._listen_args(),
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

    def _listen_args(self) -> list[str]:
        return ["--port", str(self.port)]

    def ready(self) -> bool:
        """True once the server answers PING."""
        with self.client(socket_timeout=2, socket_connect_timeout=2) as client:
            return bool(client.ping())

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
        return f"<{type(self).__name__} {self.address} ({Path(self.binary).name})>"


class RedisServer(RedisProcess):
    """A standalone ``redis-server``: the broker and the plain ``redis://`` store in tests."""

    def __init__(self, workdir: Path, args: list[str] | None = None) -> None:
        super().__init__(workdir, args)


class TlsRedisServer(RedisProcess):
    """A ``redis-server`` that listens only with TLS (``--port 0 --tls-port PORT``).

    Clients are not asked for a certificate (``--tls-auth-clients no``) unless ``mutual``.

    :param certificates: the CA and server certificate files (see ``tests.support.certificates``).
    """

    def __init__(self, workdir: Path, certificates: CertificateFiles, *, mutual: bool = False):
        self.certificates = certificates
        super().__init__(
            workdir,
            [
                "--tls-cert-file", str(certificates.server_cert),
                "--tls-key-file", str(certificates.server_key),
                "--tls-ca-cert-file", str(certificates.ca),
                "--tls-auth-clients", "yes" if mutual else "no",
            ],
        )  # fmt: skip

    def _listen_args(self) -> list[str]:
        return ["--port", "0", "--tls-port", str(self.port)]

    def url_for(self, db: int) -> str:
        """``rediss://127.0.0.1:PORT/DB?ssl_ca_certs=CA&ssl_cert_reqs=required``."""
        ca = quote(str(self.certificates.ca), safe="/")
        return f"rediss://{self.host}:{self.port}/{db}?ssl_ca_certs={ca}&ssl_cert_reqs=required"

    def client(self, db: int = 0, **kwargs: Any) -> redis.Redis:
        """A ``redis.Redis`` over TLS that verifies the server against the test CA."""
        kwargs.setdefault("ssl", True)
        kwargs.setdefault("ssl_ca_certs", str(self.certificates.ca))
        kwargs.setdefault("ssl_cert_reqs", "required")
        return super().client(db, **kwargs)


def _info(process: RedisProcess, section: str) -> dict[str, Any]:
    with process.client() as client:
        return dict(client.info(section))


def _as_mapping(reply: Any) -> dict[str, Any]:
    """A SENTINEL reply about one server as a dict (a flat list in RESP2, a map in RESP3)."""
    if isinstance(reply, dict):
        return {str(key): value for key, value in reply.items()}
    return {str(key): value for key, value in zip(reply[::2], reply[1::2], strict=True)}


class _Group:
    """Processes started together and stopped together, even when starting fails halfway."""

    def __init__(self) -> None:
        self.processes: list[RedisProcess] = []

    def _launch(self, process: RedisProcess) -> RedisProcess:
        self.processes.append(process)
        process.start()
        return process

    def stop(self) -> None:
        """Stop every process of the group (in reverse order of start)."""
        for process in reversed(self.processes):
            process.stop()


class RedisSentinelGroup(_Group):
    """A master, one replica and three ``redis-sentinel`` processes monitoring them.

    The sentinels use quorum 2 and short timeouts, so :meth:`failover` completes in seconds.
    Which server is the master changes with every failover; ask :meth:`master` for it.
    """

    master_name = "mymaster"
    down_after_ms = 3000
    """Long enough that a loaded two-core machine does not cause failovers nobody asked for."""
    failover_timeout_ms = 6000

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir
        self.servers: list[RedisProcess] = []
        self.sentinels: list[RedisProcess] = []

    def start(self, timeout: float = 30.0) -> None:
        """Start master, replica and sentinels; return once the sentinels know each other."""
        try:
            first = self._launch(RedisProcess(self.workdir / "server-0"))
            self.servers.append(first)
            replica = RedisProcess(
                self.workdir / "server-1", ["--replicaof", HOST, str(first.port)]
            )
            self.servers.append(self._launch(replica))
            for index in range(3):
                sentinel = RedisProcess(
                    self.workdir / f"sentinel-{index}",
                    binary="redis-sentinel",
                    config=[
                        f"sentinel monitor {self.master_name} {HOST} {first.port} 2",
                        f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}",
                        f"sentinel failover-timeout {self.master_name} {self.failover_timeout_ms}",
                        f"sentinel parallel-syncs {self.master_name} 1",
                    ],
                )
                self.sentinels.append(self._launch(sentinel))
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _sentinel_command(self, sentinel: RedisProcess, *args: str) -> Any:
        with sentinel.client(decode_responses=True) as client:
            return client.execute_command("SENTINEL", *args)

    def master_address(self, sentinel: RedisProcess | None = None) -> tuple[str, int]:
        """The master's address as ``sentinel`` (default: the first) reports it."""
        host, port = self._sentinel_command(
            sentinel or self.sentinels[0], "GET-MASTER-ADDR-BY-NAME", self.master_name
        )
        return str(host), int(port)

    def master(self) -> RedisProcess:
        """The server the sentinels currently name as master."""
        _, port = self.master_address()
        return next(server for server in self.servers if server.port == port)

    def replica(self) -> RedisProcess:
        """The server that is currently the replica."""
        master = self.master()
        return next(server for server in self.servers if server is not master)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until all sentinels agree on the master, see each other and the replica,
        and the replica's link to the master is up: the state in which a failover can run."""
        wait_until(self._healthy, timeout, "the sentinels to agree and the replica to sync")

    def _healthy(self) -> bool:
        addresses = {self.master_address(sentinel) for sentinel in self.sentinels}
        if len(addresses) != 1:
            return False
        ((_, port),) = addresses
        master = next(server for server in self.servers if server.port == port)
        replica = next(server for server in self.servers if server is not master)
        if _info(master, "replication").get("role") != "master":
            return False
        replica_info = _info(replica, "replication")
        if replica_info.get("role") != "slave" or replica_info.get("master_port") != port:
            return False
        if replica_info.get("master_link_status") != "up":
            return False
        for sentinel in self.sentinels:
            others = self._sentinel_command(sentinel, "SENTINELS", self.master_name)
            replicas = self._sentinel_command(sentinel, "REPLICAS", self.master_name)
            if len(others) != len(self.sentinels) - 1 or len(replicas) != 1:
                return False
            seen = _as_mapping(replicas[0])
            if seen.get("flags") != "slave" or int(seen.get("port", 0)) != replica.port:
                return False
        return True

    def failover(self, timeout: float = 60.0) -> tuple[RedisProcess, RedisProcess]:
        """Force a failover (``SENTINEL FAILOVER``) and wait until the replica is promoted and
        every sentinel names it as master.

        Sentinel demotes the old master a few seconds later (its own fixed periods); call
        :meth:`wait_healthy` before forcing another failover.

        :return: ``(old_master, new_master)``.
        :raises ServerError: when the replica was not promoted in time.
        """
        old, new = self.master(), self.replica()
        self._sentinel_command(self.sentinels[0], "FAILOVER", self.master_name)
        wait_until(lambda: self._promoted(new), timeout,
                   f"the failover from {old.address} to {new.address}")  # fmt: skip
        return old, new

    def _promoted(self, server: RedisProcess) -> bool:
        if _info(server, "replication").get("role") != "master":
            return False
        return all(self.master_address(s)[1] == server.port for s in self.sentinels)

    @property
    def addresses(self) -> list[str]:
        """``host:port`` of each sentinel."""
        return [sentinel.address for sentinel in self.sentinels]

    def url_for(self, db: int) -> str:
        """``redis+sentinel://S1,S2,S3/DB?master_name=mymaster``."""
        return f"redis+sentinel://{','.join(self.addresses)}/{db}?master_name={self.master_name}"

    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL of database 0."""
        return self.url_for(0)

    def client(self, db: int = 0) -> redis.Redis:
        """A direct client on the current master (not through Sentinel)."""
        return self.master().client(db)


class RedisClusterGroup(_Group):
    """A Redis Cluster of three masters, no replicas, created with ``redis-cli --cluster``."""

    size = 3

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir
        self.nodes: list[RedisProcess] = []

    def start(self, timeout: float = 30.0) -> None:
        """Start the nodes, assign the slots and wait for ``cluster_state:ok`` on every node."""
        try:
            for index in range(self.size):
                node = RedisProcess(
                    self.workdir / f"node-{index}",
                    [
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", "5000",
                        # The bus port is port + 10000 by default, which may be taken or
                        # beyond 65535 for a kernel-chosen port; choose it explicitly.
                        "--cluster-port", str(free_port()),
                    ],
                )  # fmt: skip
                self.nodes.append(self._launch(node))
            self._create(timeout)
            wait_until(self._ok, timeout, "cluster_state:ok on every node")
        except BaseException:
            self.stop()
            raise

    def _create(self, timeout: float) -> None:
        command = [
            find_binary("redis-cli"), "--cluster", "create",
            *(node.address for node in self.nodes),
            "--cluster-replicas", "0", "--cluster-yes",
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if done.returncode != 0 or "[OK] All 16384 slots covered" not in done.stdout:
            raise ServerError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def _ok(self) -> bool:
        for node in self.nodes:
            with node.client(decode_responses=True) as client:
                info = client.execute_command("CLUSTER", "INFO")
            text = info if isinstance(info, str) else str(info)
            if "cluster_state:ok" not in text or "cluster_known_nodes:3" not in text:
                return False
        return True

    @property
    def addresses(self) -> list[str]:
        """``host:port`` of each node."""
        return [node.address for node in self.nodes]

    @property
    def url(self) -> str:
        """``redis+cluster://N1,N2,N3/``."""
        return f"redis+cluster://{','.join(self.addresses)}/"

    def client(self) -> redis.RedisCluster:
        """A ``redis.RedisCluster`` client (the caller closes it)."""
        return redis.RedisCluster(host=HOST, port=self.nodes[0].port, socket_timeout=5)
