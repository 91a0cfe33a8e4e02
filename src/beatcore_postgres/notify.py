"""Changes pushed to a sleeping leader: ``LISTEN`` on the schedule's channel.

Every management write (save, delete, enable/disable, trigger, static sync) sends
``pg_notify('beatcore_<schema>', '')`` in the same statement as its write, so the
notification is delivered when, and only if, the write commits. The scheduler waits between
ticks through :meth:`ChangeListener.wait`, which returns as soon as one arrives.

The listening connection is the store's own, outside the pool, opened at the first wait and
kept: notifications that arrive between two waits are queued on it and wake the next wait at
once. When it breaks (server restart, network), the wait sleeps out its timeout like a store
without notifications and the next wait connects again; a change made while it was down is
seen at the next tick, as without notifications.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
from celery.utils.log import get_logger

from beatcore_postgres.connection import Connection

logger = get_logger("beatcore.postgres")


class ChangeListener:
    """Waits for notifications on one channel.

    :param connect: opens a new autocommit connection to the server.
    :param channel: the schedule's channel (a plain identifier).
    :param url: the masked URL, for messages.
    """

    def __init__(
        self,
        connect: Callable[[], Connection],
        channel: str,
        url: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._url = url
        self._sleep = sleep
        self._monotonic = monotonic
        self._conn: Connection | None = None
        self._mutex = threading.Lock()
        self._broken_logged = False

    def wait(self, timeout: float) -> bool:
        """Return True when a change was announced within ``timeout`` seconds, else False.

        Never raises for a connection problem: it then sleeps the rest of the timeout.
        """
        deadline = self._monotonic() + max(0.0, timeout)
        try:
            conn = self._listening()
            for _ in conn.notifies(timeout=max(0.0, timeout), stop_after=1):
                return True
            return False
        except psycopg.Error as exc:
            self._drop()
            if not self._broken_logged:
                self._broken_logged = True
                logger.warning(
                    "beatcore: listening for changes on PostgreSQL at %s failed (%s: %s); "
                    "changes are seen at the next tick until it works again",
                    self._url,
                    type(exc).__name__,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                )
            self._sleep(max(0.0, deadline - self._monotonic()))
            return False

    def _listening(self) -> Connection:
        with self._mutex:
            if self._conn is None or self._conn.closed:
                conn = self._connect()
                try:
                    conn.execute(f'LISTEN "{self._channel}"')
                except BaseException:
                    conn.close()
                    raise
                self._conn = conn
                if self._broken_logged:
                    self._broken_logged = False
                    logger.warning("beatcore: listening for changes at %s again", self._url)
            return self._conn

    def _drop(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close the listening connection (also from a signal handler during a wait)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
