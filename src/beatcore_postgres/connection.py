"""Connections to the server: psycopg's pool, and the retry policy every store call runs under.

Every store call borrows one autocommit connection from a ``psycopg_pool.ConnectionPool`` for
the duration of the call (one statement, or one pipeline of statements: one round trip). A
call that meets a lost connection, a server restarting or refusing connections, or a
serialization failure is retried as a whole with bounded exponential backoff, then fails as
:class:`~beatcore.errors.StoreUnavailable`; the scheduler logs that once per outage and tries
again at its next tick, so an outage never ends beat. Errors that retrying cannot fix (wrong
password, missing database, missing privilege) fail at once as
:class:`~beatcore.errors.StoreError` saying what to change.

Retrying a call is safe: a fenced write whose answer was lost either happened (the retry then
finds nothing left to do: claimed entries are out of the due index, acked ones are no longer
in flight) or did not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from celery.utils.log import get_logger
from psycopg_pool import ConnectionPool, PoolTimeout

from beatcore.errors import ConfigurationError, StoreError, StoreUnavailable
from beatcore.values import is_integer, is_number
from beatcore_postgres.urls import PostgresSpec

logger = get_logger("beatcore.postgres")
T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]
Cursor = psycopg.Cursor[tuple[Any, ...]]

#: Seconds psycopg_pool keeps retrying a connection in the background before it waits for
#: the next call to try again (see :class:`Database`).
RECONNECT_WINDOW = 5.0

#: SQLSTATE classes and codes that no retry fixes: credentials (28), a missing database
#: (3D000), a missing privilege (42501).
_PERMANENT_STATES = ("28", "3D000", "42501")


def _positive(name: str, value: object, *, integer: bool = False) -> float:
    if integer:
        if not is_integer(value) or value < 1:
            raise ConfigurationError(
                f"PostgreSQL store option {name} must be an integer >= 1, got {value!r}"
            )
        return float(value)
    if not is_number(value) or value < 0:
        raise ConfigurationError(
            f"PostgreSQL store option {name} must be a number of seconds >= 0, got {value!r}"
        )
    return float(value)


class Database:
    """The pool of one store and the retried call around it.

    :param spec: the parsed URL.
    :param pool_size: most connections held open (one for the scheduler's tick, the others
        for management calls in other threads).
    :param pool_timeout: seconds a call waits for a connection before that attempt fails.
    :param attempts: tries per call, the first one included.
    :param backoff_base, backoff_cap: ``min(cap, base * 2**n)`` seconds before try n + 2.
    :param prepare_threshold: psycopg's: run a statement this many times on a connection
        before preparing it (None: never, e.g. behind a transaction-pooling PgBouncer).
    :param sleep: waits between attempts (tests inject one).
    :raises ConfigurationError: an option has a wrong type or value.
    """

    def __init__(
        self,
        spec: PostgresSpec,
        *,
        pool_size: int = 4,
        pool_timeout: float = 2.0,
        attempts: int = 6,
        backoff_base: float = 0.1,
        backoff_cap: float = 2.0,
        prepare_threshold: int | None = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec
        self.url = spec.masked_url
        self.attempts = int(_positive("retry_attempts", attempts, integer=True))
        self._base = _positive("retry_backoff_base", backoff_base)
        self._cap = _positive("retry_backoff_cap", backoff_cap)
        self._timeout = _positive("pool_timeout", pool_timeout)
        size = int(_positive("pool_size", pool_size, integer=True))
        if prepare_threshold is not None:
            _positive("prepare_threshold", prepare_threshold)
        self._sleep = sleep
        self._outage_since: float | None = None
        self._outage_mutex = threading.Lock()
        self._ready: Callable[[Connection], object] | None = None
        self._ready_mutex = threading.Lock()
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            spec.conninfo,
            kwargs={"autocommit": True, "prepare_threshold": prepare_threshold},
            min_size=1,
            max_size=size,
            timeout=self._timeout,
            # psycopg_pool doubles the wait between its background reconnection attempts
            # until this many seconds, then gives up until the next call asks again: kept
            # short so that beat finds a server that came back within seconds, however long
            # it was away (a long timeout would have it wait minutes after a long outage)
            reconnect_timeout=RECONNECT_WINDOW,
            name=f"beatcore {spec.masked_url}",
            open=False,
        )
        self._pool.open(wait=False)
        self._closed = False

    def before_first_call(self, prepare: Callable[[Connection], object]) -> None:
        """Run ``prepare`` (the schema check) on the first call that reaches the server."""
        self._ready = prepare

    def run(self, what: str, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` on a pooled connection, retrying transient errors.

        :param what: names the call in messages ("claim", "save of entry 'x'").
        :raises StoreUnavailable: still unreachable after every attempt.
        :raises StoreError: an error no retry fixes.
        """
        if self._closed:
            raise StoreError(f"PostgreSQL store {self.url} is closed; open a new one")
        for attempt in range(self.attempts):
            try:
                with self._pool.connection() as conn:
                    self._prepare(conn)
                    result = operation(conn)
            except psycopg.Error as exc:
                if not self._transient(exc):
                    raise self._permanent(what, exc) from exc
                self._failed(exc)
                if attempt == self.attempts - 1:
                    raise StoreUnavailable(
                        f"PostgreSQL at {self.url} is unreachable after {self.attempts} "
                        f"attempts ({type(exc).__name__}: {_first_line(exc)})"
                    ) from exc
                self._sleep(min(self._cap, self._base * 2**attempt))
            else:
                self._recovered()
                return result
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _prepare(self, conn: Connection) -> None:
        if self._ready is None:
            return
        with self._ready_mutex:
            prepare = self._ready
            if prepare is not None:
                prepare(conn)
                self._ready = None

    def _transient(self, exc: psycopg.Error) -> bool:
        if isinstance(exc, PoolTimeout):
            # The pool connects in its own threads; a refusal there (bad password) only shows
            # here as a timeout, so one direct connection tells which it is.
            self._diagnose_connect()
            return True
        state = exc.sqlstate or ""
        if state.startswith(_PERMANENT_STATES):
            return False
        return isinstance(exc, psycopg.OperationalError)

    def _diagnose_connect(self) -> None:
        try:
            psycopg.connect(self.spec.conninfo, connect_timeout=int(self._timeout) or 1).close()
        except psycopg.OperationalError as exc:
            text = str(exc)
            if (exc.sqlstate or "").startswith(_PERMANENT_STATES) or any(
                marker in text
                for marker in ("authentication failed", "does not exist", "no password supplied")
            ):
                raise self._permanent("connecting", exc) from exc

    def _permanent(self, what: str, exc: psycopg.Error) -> StoreError:
        text = _first_line(exc)
        state = exc.sqlstate or ""
        if state.startswith("28") or "authentication failed" in text or "no password" in text:
            return StoreError(
                f"PostgreSQL at {self.url} refused the credentials ({text}); check the user "
                f"name and password in beatcore_url"
            )
        if state == "3D000" or ("database" in text and "does not exist" in text):
            return StoreError(
                f"PostgreSQL at {self.url}: {text}; create the database (createdb) or fix "
                f"the database name in beatcore_url"
            )
        if state == "42501":
            return StoreError(
                f"PostgreSQL at {self.url} denied {what} ({text}); the user needs CREATE on "
                f"the database the first time (to create schema {self.spec.schema!r}), then "
                f"USAGE on that schema and SELECT, INSERT, UPDATE, DELETE on its tables and "
                f"USAGE, SELECT on its sequence (docs/postgresql.rst, 'Permissions')"
            )
        return StoreError(f"PostgreSQL {what} at {self.url} failed: {type(exc).__name__}: {text}")

    def _failed(self, error: Exception) -> None:
        with self._outage_mutex:
            if self._outage_since is not None:
                return
            self._outage_since = time.monotonic()
        logger.warning(
            "beatcore: PostgreSQL at %s is unreachable (%s: %s); retrying with exponential "
            "backoff (%d attempts per call); this is logged once per outage",
            self.url,
            type(error).__name__,
            _first_line(error),
            self.attempts,
        )

    def _recovered(self) -> None:
        if self._outage_since is None:
            return
        with self._outage_mutex:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            logger.warning(
                "beatcore: PostgreSQL at %s is reachable again after %.1fs",
                self.url,
                time.monotonic() - since,
            )

    def connect(self) -> Connection:
        """Open a connection outside the pool (autocommit), e.g. to LISTEN; the caller closes it."""
        return psycopg.connect(self.spec.conninfo, autocommit=True)

    def close(self) -> None:
        """Close the pool; idempotent. Connections in use close when they are given back."""
        if not self._closed:
            self._closed = True
            self._pool.close(timeout=2.0)


def _first_line(exc: BaseException) -> str:
    """The first line of an error (libpq's messages add hints on further lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
