"""A small TCP proxy between beat and Redis that can drop, delay and partition its traffic.

One proxy forwards one listening port on 127.0.0.1 to one upstream address. The harness puts
one proxy in front of each beat, so a fault can hit the leader's path alone.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time

_CHUNK = 65536
_POLL = 0.05


class TcpProxy:
    """Forward ``127.0.0.1:port`` to ``upstream`` with faults switched on and off at run time.

    :param upstream: ``(host, port)`` of the real server.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.latency = 0.0
        """Seconds each forwarded chunk waits before it is passed on (both directions)."""
        self.refusing = False
        """True: new connections are closed at once and existing ones were dropped."""
        self.holding = False
        """True: connections stay open but nothing is forwarded (a silent partition)."""
        self.drops = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="chaos-proxy", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """``("127.0.0.1", port)`` clients connect to."""
        return ("127.0.0.1", self.port)

    def start(self) -> TcpProxy:
        """Start accepting connections; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection."""
        self._stopped.set()
        self._listener.close()
        self.drop()
        self._thread.join(2)

    def drop(self) -> int:
        """Close every open connection now (clients see a reset); return how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _close(sock)
        self.drops += len(pairs)
        return len(pairs)

    def partition(self, *, silent: bool) -> None:
        """Cut the path: ``silent`` holds connections open without forwarding (a black hole);
        otherwise every connection is dropped and new ones are refused."""
        if silent:
            self.holding = True
        else:
            self.refusing = True
            self.drop()

    def heal(self) -> None:
        """End a partition and any added latency."""
        self.refusing = False
        self.holding = False
        self.latency = 0.0

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], _POLL)
                if not ready:
                    continue
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(
                target=self._pump, args=(client, server), name="chaos-pump", daemon=True
            ).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while not self._stopped.is_set():
                if self.holding:
                    time.sleep(_POLL)
                    continue
                ready, _, _ = select.select(list(peers), [], [], _POLL)
                for sock in ready:
                    data = sock.recv(_CHUNK)
                    if not data:
                        return
                    if self.latency:
                        time.sleep(self.latency)
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            _close(client)
            _close(server)
            with self._lock:
                if (client, server) in self._pairs:
                    self._pairs.remove((client, server))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
