"""The processes of one chaos run: broker, store server(s), proxies, one worker, 2-3 beats.

Everything binds 127.0.0.1. The broker is a redis-server of its own that no fault touches, so
what the worker records is what the beats sent. Servers come from ``tests/support`` and celery
processes are stopped with ``tests/e2e/processes.stop``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

import attrs
from tests.e2e.processes import stop as stop_process
from tests.support.postgres_server import PostgresServer
from tests.support.redis_servers import RedisProcess, RedisSentinelGroup, RedisServer

from beatcore.timeutil import UTC
from bench.chaos.proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
StoreKind = Literal["plain", "aof", "sentinel", "sqlite", "postgres"]
Side = Literal["beatcore", "redbeat"]
#: Seconds a beat gets to exit after SIGTERM when the harness stops.
STOP_TIMEOUT = 8.0
_SCHEDULERS = {"beatcore": "beatcore.Scheduler", "redbeat": "redbeat.RedBeatScheduler"}


@attrs.define
class Event:
    """Something the harness did, at ``at`` (epoch seconds), for the timeline and report."""

    at: float
    kind: str
    target: str = ""
    detail: str = ""


@attrs.define
class Beat:
    """One ``celery beat`` process (restarted under the same name after a kill)."""

    name: str
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    proxy: TcpProxy | None = None
    paused: bool = False
    log_offset: int = 0
    """Size of ``log`` when the current process started (earlier lines are a previous one's)."""

    def current_log(self) -> str:
        """What the current process wrote to its log so far."""
        if not self.log.exists():
            return ""
        with open(self.log, "rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode(errors="replace")

    @property
    def alive(self) -> bool:
        """True while the process runs (paused counts as running)."""
        return self.proc is not None and self.proc.poll() is None


class Harness:
    """Start and fault the processes of one run; record every fault as an :class:`Event`.

    :param workdir: logs, the worker's record file and server directories go here.
    :param store: ``plain`` (no persistence), ``aof`` (appendonly, fsync always),
        ``sentinel`` (master, replica, three sentinels), ``sqlite`` (one SQLite file) or
        ``postgres`` (a PostgreSQL server, run as the ``postgres`` user when root).
    :param beats: how many beat processes.
    :param lock_ttl: ``beatcore_lock_ttl`` in seconds.
    :param proxied: put a :class:`TcpProxy` between each beat and the store server.
    :param clock_offsets: beat name -> clock offset in seconds (``beatcore_clock``).
    :param broker_latency: when positive, beats reach the broker through a :class:`TcpProxy`
        adding this many seconds per chunk, so each send takes a while (the worker does not).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        store: StoreKind = "plain",
        beats: int = 3,
        lock_ttl: float = 3.0,
        proxied: bool = False,
        clock_offsets: dict[str, float] | None = None,
        side: Side = "beatcore",
        broker_latency: float = 0.0,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store_kind = store
        self.lock_ttl = lock_ttl
        self.proxied = proxied
        self.side = side
        self.record_file = workdir / "runs.jsonl"
        self.events: list[Event] = []
        self.broker = RedisServer(workdir / "broker")
        self.broker_latency = broker_latency
        self.broker_proxy: TcpProxy | None = None
        self.server: RedisServer | None = None
        self.sentinel: RedisSentinelGroup | None = None
        self.postgres: PostgresServer | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log = workdir / "worker.log"
        offsets = clock_offsets or {}
        self.beats = [
            Beat(
                name=f"beat-{i}",
                log=workdir / f"beat-{i}.log",
                env={"CHAOS_CLOCK_OFFSET": str(offsets[f"beat-{i}"])}
                if f"beat-{i}" in offsets
                else {},
            )
            for i in range(beats)
        ]

    # -- servers -----------------------------------------------------------------------

    @property
    def store_url(self) -> str:
        """The store URL the harness itself uses (never through a proxy)."""
        if self.store_kind == "sqlite":
            return f"sqlite:///{self.workdir / 'schedule.sqlite3'}"
        if self.postgres is not None:
            return f"{self.postgres.url}?schema=chaos"
        if self.sentinel is not None:
            return self.sentinel.url_for(1)
        assert self.server is not None
        return self.server.url_for(1)

    def store_server(self) -> RedisProcess:
        """The server holding the schedule now (the master under Sentinel)."""
        if self.sentinel is not None:
            return self.sentinel.master()
        assert self.server is not None
        return self.server

    def _beat_store_url(self, beat: Beat) -> str:
        if beat.proxy is not None:
            host, port = beat.proxy.address
            if self.postgres is not None:
                server = f"{self.postgres.host}:{self.postgres.port}"
                return self.store_url.replace(f"@{server}/", f"@{host}:{port}/")
            return f"redis://{host}:{port}/1"
        return self.store_url

    def start_servers(self) -> None:
        """Start the broker and the store server(s) (and one proxy per beat if proxied)."""
        self.broker.start()
        if self.broker_latency > 0:
            self.broker_proxy = TcpProxy((self.broker.host, self.broker.port)).start()
            self.broker_proxy.latency = self.broker_latency
        if self.store_kind == "sqlite":
            return  # one file, shared by every process
        if self.store_kind == "postgres":
            self.postgres = PostgresServer()
            self.postgres.start()
            if self.proxied:
                for beat in self.beats:
                    target = (self.postgres.host, self.postgres.port)
                    beat.proxy = TcpProxy(target).start()
            return
        if self.store_kind == "sentinel":
            self.sentinel = RedisSentinelGroup(self.workdir / "sentinel")
            self.sentinel.start()
        else:
            args = ["--appendonly", "yes", "--appendfsync", "always"]
            self.server = RedisServer(
                self.workdir / "store", args if self.store_kind == "aof" else None
            )
            self.server.start()
            if self.proxied:
                for beat in self.beats:
                    beat.proxy = TcpProxy((self.server.host, self.server.port)).start()

    def restart_store(self, downtime: float, *, crash: bool = True) -> None:
        """Stop the store server (SIGKILL when ``crash``), wait ``downtime`` s, start it again
        on the same port (from its append-only file when it has one; PostgreSQL keeps every
        commit: its immediate stop is a crash)."""
        if self.postgres is not None:
            self.event("store-down", "store", "pg_ctl stop -m immediate")
            self.postgres.stop_server()
            time.sleep(downtime)
            self.postgres.start()
            self.event("store-up", "store")
            return
        assert self.server is not None
        self.event("store-down", "store", "kill -9" if crash else "SIGTERM")
        if crash:
            self.server.kill()
            self.server.proc = None
        else:
            self.server.stop()
        time.sleep(downtime)
        self.server.start()
        self.event("store-up", "store")

    # -- celery processes --------------------------------------------------------------

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
            PYTHONUNBUFFERED="1",
            TZ="UTC",
            CHAOS_BROKER_URL=self.broker.url,
            CHAOS_LOCK_TTL=str(self.lock_ttl),
            CHAOS_RECORD_FILE=str(self.record_file),
        )
        env.pop("CHAOS_CLOCK_OFFSET", None)
        env.update(extra)
        return env

    def _popen(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "bench.chaos.project", *args],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def start_worker(self) -> None:
        """Start the recording worker (solo pool: one process, runs in arrival order)."""
        self.worker = self._popen(
            [
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            self._env({"CHAOS_STORE_URL": self.store_url}),
            self.worker_log,
        )

    def start_beat(self, beat: Beat) -> None:
        """Start (or restart) one beat process."""
        extra = {"CHAOS_STORE_URL": self._beat_store_url(beat), **beat.env}
        if self.broker_proxy is not None:
            host, port = self.broker_proxy.address
            extra["CHAOS_BROKER_URL"] = f"redis://{host}:{port}/0"
        env = self._env(extra)
        beat.log_offset = beat.log.stat().st_size if beat.log.exists() else 0
        beat.proc = self._popen(
            [
                "beat",
                "-S",
                _SCHEDULERS[self.side],
                "--loglevel=INFO",
                "--schedule",
                str(self.workdir / f"{beat.name}-schedule"),
            ],
            env,
            beat.log,
        )
        beat.paused = False
        self.event("beat-start", beat.name, f"pid {beat.proc.pid}")

    def kill_beat(self, beat: Beat, *, leader: bool = False, kind: str = "kill-9") -> None:
        """``kill -9`` one beat (``leader``: it held the lock a moment ago)."""
        assert beat.proc is not None
        beat.proc.send_signal(signal.SIGKILL)
        self.event(kind, beat.name, f"{'leader ' if leader else ''}pid {beat.proc.pid}")
        beat.proc.wait(10)

    def terminate_beat(self, beat: Beat, *, leader: bool = False) -> None:
        """``SIGTERM`` one beat (a graceful stop, as a deploy does) and wait for it to exit."""
        assert beat.proc is not None
        self.event("sigterm", beat.name, f"{'leader ' if leader else ''}pid {beat.proc.pid}")
        stop_process(beat.proc)

    def pause_beat(self, beat: Beat, *, leader: bool = False) -> None:
        """``SIGSTOP`` one beat (``leader``: it held the lock a moment ago)."""
        assert beat.proc is not None
        beat.proc.send_signal(signal.SIGSTOP)
        beat.paused = True
        self.event("sigstop", beat.name, f"{'leader ' if leader else ''}pid {beat.proc.pid}")

    def resume_beat(self, beat: Beat) -> None:
        """``SIGCONT`` a paused beat."""
        assert beat.proc is not None
        beat.proc.send_signal(signal.SIGCONT)
        beat.paused = False
        self.event("sigcont", beat.name, f"pid {beat.proc.pid}")

    def leader(self) -> Beat | None:
        """The beat whose pid is in the lock's holder (``host:pid:start``), or None.

        RedBeat's lock holds a random token: there the leader is the running, unpaused beat
        whose current process logged ``beat: Acquired lock`` (standbys block before that).
        """
        if self.side == "redbeat":
            holders = [
                b
                for b in self.beats
                if b.alive and not b.paused and "beat: Acquired lock" in b.current_log()
            ]
            return holders[-1] if len(holders) == 1 else None
        from beatcore import connect

        try:
            store = connect(self.store_url)
            try:
                info = store.lock.current()
            finally:
                store.close()
        except Exception:
            return None
        if info is None:
            return None
        parts = info.holder.split(":")
        pid = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        return next((b for b in self.beats if b.proc is not None and b.proc.pid == pid), None)

    def wait_for_leader(self, timeout: float) -> Beat | None:
        """Poll until some beat holds the lock; None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.leader()
            if found is not None and found.alive and not found.paused:
                return found
            time.sleep(0.1)
        return None

    def event(self, kind: str, target: str = "", detail: str = "") -> None:
        """Record that the harness did ``kind`` to ``target`` just now."""
        self.events.append(Event(time.time(), kind, target, detail))

    # -- whole run ---------------------------------------------------------------------

    def start(self) -> None:
        """Start servers, the worker and every beat."""
        self.start_servers()
        self.start_worker()
        for beat in self.beats:
            self.start_beat(beat)

    def stop(self) -> None:
        """Stop beats (SIGCONT first if paused), let the worker drain, then stop everything.

        Every beat gets SIGTERM at once; one that has not exited :data:`STOP_TIMEOUT` seconds
        later is killed and an event ``stop-timeout`` records it.
        """
        self.event("beats-stopping")
        running = [b for b in self.beats if b.proc is not None and b.proc.poll() is None]
        for beat in running:
            assert beat.proc is not None
            if beat.paused:
                beat.proc.send_signal(signal.SIGCONT)
            beat.proc.send_signal(signal.SIGTERM)
        for beat in running:
            assert beat.proc is not None
            if stop_process(beat.proc, timeout=STOP_TIMEOUT) == -signal.SIGKILL:
                self.event("stop-timeout", beat.name, f"pid {beat.proc.pid}")
        self.event("beats-stopped")
        time.sleep(1.5)
        if self.worker is not None:
            stop_process(self.worker)
        for proxy in [self.broker_proxy, *(beat.proxy for beat in self.beats)]:
            if proxy is not None:
                proxy.stop()
        if self.sentinel is not None:
            self.sentinel.stop()
        if self.server is not None:
            self.server.stop()
        if self.postgres is not None:
            self.postgres.stop()
        self.broker.stop()


@contextmanager
def running(harness: Harness) -> Iterator[Harness]:
    """Start ``harness`` for the block; always stop it afterwards."""
    try:
        harness.start()
        yield harness
    finally:
        harness.stop()


def utc_from_epoch(at: float) -> datetime:
    """An aware UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(at, UTC)
