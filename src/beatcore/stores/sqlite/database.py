"""One open SQLite schedule file: its connection, transactions and the leadership row."""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from beatcore.errors import LockLost
from beatcore.store import Lease, LockInfo
from beatcore.storekit import from_micros as instant
from beatcore.storekit import to_micros as micros
from beatcore.stores.sqlite.schema import open_database
from beatcore.timeutil import Clock

logger = logging.getLogger("beatcore.stores.sqlite")

#: How the connection reads TEXT: bytes that are not UTF-8 (written by something else) are
#: kept as surrogates instead of failing the whole query with sqlite3.OperationalError.
_read_text = functools.partial(str, encoding="utf-8", errors="surrogateescape")


#: Names per ``IN (?, ...)`` (well under every SQLite's limit on bound parameters).
CHUNK = 500


def chunks(names: Sequence[str]) -> Iterator[tuple[str, Sequence[str]]]:
    """Yield ``(placeholders, names)`` for ``name IN (...)`` in chunks of :data:`CHUNK`."""
    for start in range(0, len(names), CHUNK):
        part = names[start : start + CHUNK]
        yield ",".join("?" * len(part)), part


def stored_name(name: str) -> bytes:
    """Return the bytes of a name as read through :data:`_read_text`, to bind as
    ``CAST(? AS TEXT)``: it matches the row even when its name is not UTF-8."""
    return name.encode("utf-8", "surrogateescape")


class Database:
    """One open schedule file: its connection, transactions and the leadership row.

    The connection is shared by the threads of one store under a mutex; other processes use
    their own connection and meet this one at the file's locks.
    """

    def __init__(self, path: Path, *, clock: Clock, busy_timeout: float) -> None:
        self.path = path
        self.clock = clock
        self._mutex = threading.RLock()
        self._deferred: list[Callable[[], None]] = []
        self._closed = False
        self._conn = open_database(path, busy_timeout=busy_timeout)
        self._conn.text_factory = _read_text

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction: ``BEGIN IMMEDIATE`` to write, else a snapshot.

        A write transaction takes the file's write lock at once, so it never has to upgrade
        a read lock (which could fail with "database is locked" under contention). An
        exception in the block rolls everything back.
        """
        with self._mutex:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Closed already: a signal handler closed the store right after COMMIT.
                if not self._closed and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._run_deferred()

    def after_transaction(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or as soon as the transaction this thread is in has ended.

        celery beat's SIGTERM/SIGINT handler closes the scheduler (releasing the lock,
        closing the store) from inside whatever the main thread was doing, possibly in the
        middle of one of our transactions, and then raises SystemExit there. Releasing inside
        that transaction would be rolled back with it, so the release waits for it to end.
        """
        with self._mutex:
            if not self._closed and self._conn.in_transaction:
                self._deferred.append(action)
            else:
                action()

    def _run_deferred(self) -> None:
        while self._deferred:
            action = self._deferred.pop(0)
            try:
                action()
            except Exception:
                logger.exception("beatcore: SQLite store %s: deferred %r failed", self.path, action)

    def close(self) -> None:
        """Close the connection (after the transaction in progress, if any); idempotent."""

        def close() -> None:
            if not self._closed:
                self._closed = True
                self._conn.close()

        with self._mutex:
            if not self._closed:
                self.after_transaction(close)

    def check_lease(
        self, conn: sqlite3.Connection, lease: Lease, tick_at: datetime | None = None
    ) -> None:
        """Renew ``lease`` (and record a tick at ``tick_at``) or raise :class:`LockLost`.

        Called inside the write transaction of every fenced call, before its writes.
        """
        expires = micros(self.clock() + timedelta(seconds=lease.ttl))
        renewed = conn.execute(
            "UPDATE leadership SET expires_at = ?, last_tick_at = coalesce(?, last_tick_at)"
            " WHERE id = 1 AND token = ? AND fence = ?",
            (expires, micros(tick_at), lease.token, lease.token),
        ).rowcount
        if renewed != 1:
            fence = conn.execute("SELECT fence FROM leadership WHERE id = 1").fetchone()[0]
            raise LockLost.superseded(lease.token, fence)

    def lock_info(self, conn: sqlite3.Connection) -> LockInfo | None:
        """Return the holder of a still valid lease, or None."""
        holder, token, acquired_at, expires_at = conn.execute(
            "SELECT holder, token, acquired_at, expires_at FROM leadership WHERE id = 1"
        ).fetchone()
        if token is None or expires_at <= micros(self.clock()):
            return None
        return LockInfo(holder, token, instant(acquired_at), instant(expires_at))
