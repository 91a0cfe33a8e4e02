"""Redis clients for a parsed URL, and the retry policy every store call runs under.

Retry policy: redis-py's own :class:`~redis.retry.Retry` with :class:`ExponentialBackoff`, run
around each whole store call (one script call or one pipeline) instead of inside each socket
operation. A call is then retried as a unit, the same code covers plain, Sentinel and Cluster
clients, no extra dependency is needed, and the ``fail`` callback of ``call_with_retry`` lets us
log once when an outage starts and once when it ends rather than once per attempt.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from celery.utils.log import get_logger
from redis import Redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterDownError,
    ConnectionError,
    NoPermissionError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)
from redis.retry import Retry

from beatcore.errors import ConfigurationError, StoreError, StoreUnavailable
from beatcore.values import is_integer, is_number
from beatcore_redis.urls import ConnectionSpec

logger = get_logger("beatcore.redis")
T = TypeVar("T")


#: The client-level retry: one immediate reconnect (a pooled connection the server closed);
#: outages are retried, with backoff, by :class:`RetryingCaller` around the whole call.
def _client_retry() -> Retry:
    return Retry(NoBackoff(), 1)


def build_client(spec: ConnectionSpec) -> Any:
    """Return a redis-py client for ``spec`` (``Redis``, Sentinel master or ``RedisCluster``).

    :raises ConfigurationError: an option is not accepted by the client.
    """
    kwargs = dict(spec.client_kwargs)
    if spec.tls:
        kwargs["ssl"] = True
    kwargs["username"], kwargs["password"] = spec.username, spec.password
    try:
        if spec.kind == "standalone":
            host, port = spec.hosts[0]
            return Redis(host=host, port=port, db=spec.db, retry=_client_retry(), **kwargs)
        if spec.kind == "sentinel":
            from redis.sentinel import Sentinel

            sentinel_kwargs = dict(spec.sentinel_kwargs or {})
            for key in ("socket_timeout", "socket_connect_timeout"):
                if key in kwargs:
                    sentinel_kwargs.setdefault(key, kwargs[key])
            sentinel = Sentinel(list(spec.hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
            return sentinel.master_for(  # type: ignore[no-untyped-call]
                spec.master_name, db=spec.db, retry=_client_retry(), **kwargs
            )
        from redis.cluster import ClusterNode, RedisCluster

        nodes = [ClusterNode(host, port) for host, port in spec.hosts]  # type: ignore[no-untyped-call]
        return RedisCluster(
            startup_nodes=nodes,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            **kwargs,
        )
    except TypeError as exc:
        raise ConfigurationError(
            f"an option in beatcore_store_options (or the URL) for {spec.masked_url!r} is not "
            f"accepted by redis-py: {exc}"
        ) from exc


@attrs.define
class _Outage:
    """Whether the server is unreachable now, so an outage is logged once, not per attempt."""

    mutex: threading.Lock = attrs.field(factory=threading.Lock)
    since: float | None = None
    attempts: int = 0


class RetryingCaller:
    """Runs each store call with bounded exponential backoff on transient errors.

    Transient: connection and timeout errors, including a Sentinel master change (redis-py
    turns a write to a demoted master into a connection error and asks Sentinel again), a
    server still loading its data, and a Cluster without a master for a slot for a moment.
    Permanent errors fail at once as :class:`~beatcore.errors.StoreError` naming the setting
    or the key.

    :param url: the masked URL, for messages.
    :param attempts: tries per call (the first one included).
    :param base, cap: the backoff: ``min(cap, base * 2**n)`` seconds before try n + 1.
    :param diagnose_wrongtype: returns a description of our keys that have a wrong type.
    """

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 6,
        base: float = 0.1,
        cap: float = 2.0,
        diagnose_wrongtype: Callable[[], str] | None = None,
    ) -> None:
        if not is_integer(attempts) or attempts < 1:
            raise ConfigurationError(f"retry_attempts must be an integer >= 1, got {attempts!r}")
        for name, value in (("retry_backoff_base", base), ("retry_backoff_cap", cap)):
            if not is_number(value) or value < 0:
                raise ConfigurationError(f"{name} must be a number of seconds >= 0, got {value!r}")
        self.url = url
        self.attempts = attempts
        self._retry = Retry(
            ExponentialBackoff(cap=cap, base=base),
            attempts - 1,
            supported_errors=_TRANSIENT,
        )
        self._outage = _Outage()
        #: Returns which keys hold a wrong type; called when Redis answers WRONGTYPE.
        self.diagnose_wrongtype = diagnose_wrongtype

    @property
    def in_outage(self) -> bool:
        """True while the last call failed on a transient error and none succeeded since."""
        return self._outage.since is not None

    def call(
        self,
        what: str,
        operation: Callable[[], T],
        *,
        diagnose_wrongtype: Callable[[], str] | None = None,
    ) -> T:
        """Run ``operation`` (one round trip or one pipeline), retrying transient errors.

        ``diagnose_wrongtype`` (default: the one given at construction) describes the keys
        of a wrong type when Redis answers WRONGTYPE.

        :raises StoreError: a permanent error (credentials, permissions, read-only replica,
            wrong key type, script error).
        :raises StoreUnavailable: still unreachable after every attempt.
        """
        try:
            result = self._retry.call_with_retry(
                operation, self._failed, is_retryable=_is_transient
            )
        except _TRANSIENT as exc:
            if isinstance(exc, AuthenticationError):
                raise StoreError(
                    f"Redis at {self.url} refused the credentials ({exc}); check the user name "
                    "and password in beatcore_url or beatcore_store_options"
                ) from exc
            tls = _tls_failure(exc)
            if tls is not None:
                raise StoreError(
                    f"TLS with Redis at {self.url} failed ({tls}); check ssl_ca_certs, "
                    "ssl_certfile, ssl_keyfile and ssl_cert_reqs in beatcore_url or "
                    "beatcore_store_options"
                ) from exc
            raise StoreUnavailable(
                f"Redis at {self.url} is unreachable after {self.attempts} attempts "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        except RedisError as exc:
            raise self._permanent(what, exc, diagnose_wrongtype) from exc
        self._recovered()
        return result

    def _failed(self, error: Exception) -> None:
        outage = self._outage
        with outage.mutex:
            outage.attempts += 1
            if outage.since is not None:
                return
            outage.since = time.monotonic()
        logger.warning(
            "beatcore: Redis at %s is unreachable (%s: %s); retrying with exponential backoff "
            "(%d attempts per call); this is logged once per outage",
            self.url,
            type(error).__name__,
            error,
            self.attempts,
        )

    def _recovered(self) -> None:
        outage = self._outage
        if outage.since is None:
            return
        with outage.mutex:
            if outage.since is None:
                return
            seconds, attempts = time.monotonic() - outage.since, outage.attempts
            outage.since, outage.attempts = None, 0
        logger.warning(
            "beatcore: Redis at %s is reachable again after %.1fs (%d failed attempts)",
            self.url,
            seconds,
            attempts,
        )

    def _permanent(
        self, what: str, exc: RedisError, diagnose: Callable[[], str] | None
    ) -> StoreError:
        text = str(exc)
        if isinstance(exc, ReadOnlyError):
            return StoreError(
                f"Redis at {self.url} is a read-only replica ({text}); point beatcore_url at "
                "the master, or use redis+sentinel:// so the master is found"
            )
        if isinstance(exc, (NoPermissionError, AuthorizationError)):
            return StoreError(
                f"Redis at {self.url} denied {what} ({text}); the ACL user needs EVALSHA, "
                "SCRIPT LOAD and read/write hash, sorted-set, set and string commands on the "
                "keys under beatcore_key_prefix (docs/redis.rst, 'Permissions', lists them)"
            )
        if isinstance(exc, ResponseError) and "WRONGTYPE" in text:
            diagnose = diagnose or self.diagnose_wrongtype
            detail = diagnose() if diagnose else ""
            return StoreError(
                f"Redis {what} at {self.url} failed: a key under beatcore_key_prefix holds "
                f"another type than beatcore writes ({detail or text}); another program uses "
                "this prefix: choose another beatcore_key_prefix or move that data away"
            )
        return StoreError(f"Redis {what} at {self.url} failed: {type(exc).__name__}: {text}")


#: Errors retried with backoff: the server is unreachable, loading, or (Cluster) moving slots
#: or without a master for a moment (CLUSTERDOWN, MASTERDOWN, TRYAGAIN).
_TRANSIENT: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    socket.timeout,
    ClusterDownError,
    TryAgainError,
)


def _is_transient(error: Exception) -> bool:
    return not isinstance(error, AuthenticationError) and _tls_failure(error) is None


def _tls_failure(error: BaseException) -> ssl.SSLError | None:
    """Return the TLS error behind ``error`` (redis-py wraps it in a ConnectionError), if any.

    A certificate or handshake failure does not heal by retrying, so it is not transient.
    """
    seen: BaseException | None = error
    for _ in range(8):  # the chain is short; bounded in case it loops
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
