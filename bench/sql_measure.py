"""What the SQL benchmark counts: PostgreSQL round trips, exactly, and time.

Round trips are counted in libpq's protocol trace: one ``ReadyForQuery`` from the server per
exchange (a statement, a ``BEGIN``/``COMMIT``, or a pipeline's sync), on every psycopg
connection of the process, beatcore's pool and Django's alike. Tracing writes every message
to a file, which costs time, so a counted run is never a timed one: the harness runs the
operation once more, untimed, inside :meth:`PgRoundTrips.counting`.
"""

from __future__ import annotations

import contextlib
import tempfile
import weakref
from collections.abc import Callable, Iterator
from typing import IO, Any

import psycopg
from psycopg import pq


class PgRoundTrips:
    """Counts the round trips of every psycopg connection of this process while counting.

    :meth:`install` wraps ``psycopg.Connection.__init__`` so connections are known from
    their creation (the pools open theirs in background threads); :meth:`counting` traces
    them all (and any opened meanwhile) and adds up the exchanges when the block ends.
    """

    def __init__(self) -> None:
        self._connections: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
        self._traces: dict[int, tuple[psycopg.Connection[Any], IO[bytes]]] = {}
        self._active = False
        self._original: Callable[..., None] | None = None

    def install(self) -> PgRoundTrips:
        """Start knowing every new psycopg connection (idempotent)."""
        if self._original is not None:
            return self
        original = psycopg.Connection.__init__
        known = self

        def init(conn: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> None:
            original(conn, *args, **kwargs)
            known._connections.add(conn)
            if known._active:
                known._trace(conn)

        psycopg.Connection.__init__ = init  # type: ignore[method-assign,assignment]
        self._original = original
        return self

    def _trace(self, conn: psycopg.Connection[Any]) -> None:
        if conn.closed or id(conn) in self._traces:
            return
        trace = tempfile.TemporaryFile()  # noqa: SIM115 - closed when counting ends
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        self._traces[id(conn)] = (conn, trace)

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[int]]:
        """Count the round trips made inside the block; the yielded list holds the count
        (one item) once the block ends."""
        result: list[int] = []
        self._active = True
        for conn in list(self._connections):
            self._trace(conn)
        try:
            yield result
        finally:
            self._active = False
            total = 0
            for conn, trace in self._traces.values():
                if not conn.closed:
                    conn.pgconn.untrace()
                trace.seek(0)
                total += sum(
                    1
                    for line in trace.read().decode(errors="replace").splitlines()
                    if line.startswith("B\t") and "\tReadyForQuery" in line
                )
                trace.close()
            self._traces.clear()
            result.append(total)
