"""Redis URLs to clients, and the retry policy every store call runs under.

URL forms (docs/redis.rst has the full table):

``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` (TLS)
``redis+sentinel://[:password@]host1:26379,host2:26379[/db]?master_name=mymaster``
``sentinel://host1:26379;sentinel://host2:26379`` (Celery's broker form; ``master_name`` in
the options, as Celery takes it from ``broker_transport_options``)
``redis+cluster://host1:7000,host2:7001/``, ``rediss+cluster://...``

Retry policy: redis-py's own :class:`~redis.retry.Retry` with :class:`ExponentialBackoff`, run
around each whole store call (one script call or one pipeline) instead of inside each socket
operation. A call is then retried as a unit, the same code covers plain, Sentinel and Cluster
clients, no extra dependency is needed, and the ``fail`` callback of ``call_with_retry`` lets us
log once when an outage starts and once when it ends rather than once per attempt.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

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

from beatcore.errors import ConfigurationError, StoreError

logger = get_logger("beatcore.redis")
T = TypeVar("T")
Kind = Literal["standalone", "sentinel", "cluster"]

#: Options the store itself consumes; every other option is passed to the redis-py client.
STORE_OPTIONS = frozenset(
    {
        "key_prefix",
        "default_timezone",
        "clock",
        "client",
        "master_name",
        "sentinel_kwargs",
        "retry_attempts",
        "retry_backoff_base",
        "retry_backoff_cap",
        "startup_checks",
        "ssl",
        "wait_replicas",
        "wait_timeout",
    }
)

_SCHEMES: dict[str, tuple[Kind, bool]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "sentinel": ("sentinel", False),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
_DEFAULT_PORT = {"standalone": 6379, "sentinel": 26379, "cluster": 6379}
_CERT_REQS = {
    "required": "required",
    "cert_required": "required",
    "optional": "optional",
    "cert_optional": "optional",
    "none": "none",
    "cert_none": "none",
}
_BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False}


def _to_bool(value: str) -> bool:
    try:
        return _BOOL[value.lower()]
    except KeyError:
        raise ValueError(f"expected true or false, got {value!r}") from None


def _cert_reqs(value: Any) -> Any:
    if isinstance(value, ssl.VerifyMode):
        return value
    try:
        return _CERT_REQS[str(value).lower()]
    except KeyError:
        raise ValueError(
            f"expected required, optional or none (or CERT_REQUIRED, ...), got {value!r}"
        ) from None


#: URL query parameters passed to the client, with their parsers.
_QUERY_PARSERS: dict[str, Callable[[str], Any]] = {
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "health_check_interval": int,
    "max_connections": int,
    "client_name": str,
    "ssl_cert_reqs": _cert_reqs,
    "ssl_ca_certs": str,
    "ssl_ca_path": str,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_check_hostname": _to_bool,
    "ssl_ciphers": str,
}

_PASSWORD = re.compile(r"(?P<pre>://[^:@/;,?#]*:)[^@;]*@")


def mask_url(url: str) -> str:
    """Return ``url`` with every password replaced by ``****`` (safe for logs and errors)."""
    return _PASSWORD.sub(r"\g<pre>****@", url)


@attrs.frozen
class ConnectionSpec:
    """What a Redis URL (plus the store options) says to connect to.

    :param kind: ``standalone``, ``sentinel`` or ``cluster``.
    :param hosts: the server, the sentinels or the cluster's startup nodes.
    :param client_kwargs: keyword arguments for the redis-py client (TLS, timeouts, ...).
    """

    url: str
    kind: Kind
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = None
    master_name: str | None = None
    client_kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    sentinel_kwargs: Mapping[str, Any] | None = None

    @property
    def masked_url(self) -> str:
        """The URL with its password masked."""
        return mask_url(self.url)


def _bad(url: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"invalid Redis URL {mask_url(url)!r} in beatcore_url: {problem}")


def _host_port(url: str, text: str, default_port: int) -> tuple[str, int]:
    if not text:
        raise _bad(url, "a host is missing")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise _bad(url, f"a host is missing in {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _bad(url, f"port {port_text!r} of host {host!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _split_netloc(netloc: str) -> tuple[str | None, str | None, str]:
    """Return (username, password, hosts part) of a URL's netloc."""
    if "@" not in netloc:
        return None, None, netloc
    userinfo, _, hosts = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if colon else None), hosts


def _db(url: str, path: str, query_db: str | None) -> int:
    text = path.strip("/") or query_db or "0"
    if not text.isdigit():
        raise _bad(url, f"the database {text!r} is not a number (use /0, /1, ...)")
    return int(text)


def _celery_sentinel(url: str) -> tuple[list[str], str]:
    """Split Celery's ``sentinel://a:26379;sentinel://b:26379/0`` into netlocs and a path."""
    netlocs, path, query = [], "", ""
    for part in url.split(";"):
        part = part.strip()
        if not part:
            continue
        parts = urlsplit(part)
        if parts.scheme.lower() != "sentinel":
            raise _bad(url, f"every part of a Celery sentinel URL must start with sentinel://, "
                       f"got {mask_url(part)!r}")  # fmt: skip
        netlocs.append(parts.netloc)
        path = parts.path or path
        query = parts.query or query
    return netlocs, path + ("?" + query if query else "")


def parse_url(url: str, options: Mapping[str, Any] | None = None) -> ConnectionSpec:
    """Parse a Redis store URL and the store options into a :class:`ConnectionSpec`.

    :raises ConfigurationError: the URL or an option is malformed (the message names the URL,
        with its password masked, and what is wrong).
    """
    options = dict(options or {})
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise _bad(url, f"unknown scheme {scheme!r} (use one of {', '.join(sorted(_SCHEMES))})")
    kind, tls = _SCHEMES[scheme]
    if scheme == "sentinel":
        netlocs, rest = _celery_sentinel(url)
        parts = urlsplit("sentinel://x" + rest)
    else:
        parts = urlsplit(url)
        netlocs = [parts.netloc]
    if parts.fragment:
        raise _bad(url, "a '#fragment' has no meaning here")
    username = password = None
    hosts: list[tuple[str, int]] = []
    for netloc in netlocs:
        user, secret, host_part = _split_netloc(netloc)
        username, password = user or username, secret if secret is not None else password
        if kind == "standalone" and not host_part:
            host_part = "localhost"
        for text in host_part.split(","):
            if kind == "standalone" and hosts:
                raise _bad(url, "several hosts need redis+sentinel:// or redis+cluster://")
            hosts.append(_host_port(url, text, _DEFAULT_PORT[kind]))

    query: dict[str, str] = {}
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise _bad(url, f"malformed query string: {exc}") from None
    for key, value in pairs:
        query[key] = value
    db = _db(url, parts.path, query.pop("db", None))
    master_name = query.pop("master_name", None) or options.get("master_name")
    client_kwargs = _client_kwargs(url, options, query, tls)
    if kind == "sentinel" and not master_name:
        raise _bad(
            url,
            "a Sentinel URL needs the master's name: add ?master_name=mymaster, or set "
            "beatcore_store_options = {'master_name': 'mymaster'}",
        )
    if kind == "cluster" and db != 0:
        raise _bad(url, f"Redis Cluster has only database 0, the URL asks for {db}")
    sentinel_kwargs = options.get("sentinel_kwargs")
    if sentinel_kwargs is not None and not isinstance(sentinel_kwargs, Mapping):
        raise ConfigurationError(
            f"beatcore_store_options['sentinel_kwargs'] must be a dict, got {sentinel_kwargs!r}"
        )
    return ConnectionSpec(
        url=url,
        kind=kind,
        tls=tls,
        hosts=tuple(hosts),
        db=db,
        username=username or options.get("username"),
        password=password if password is not None else options.get("password"),
        master_name=master_name,
        client_kwargs=client_kwargs,
        sentinel_kwargs=dict(sentinel_kwargs) if sentinel_kwargs is not None else None,
    )


def _client_kwargs(
    url: str, options: Mapping[str, Any], query: Mapping[str, str], tls: bool
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        key: value
        for key, value in options.items()
        if key not in STORE_OPTIONS and key not in ("username", "password")
    }
    nested = options.get("ssl")
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise ConfigurationError(
                f"beatcore_store_options['ssl'] must be a dict of ssl_* options, got {nested!r}"
            )
        kwargs.update(nested)
    for key, text in query.items():
        parser = _QUERY_PARSERS.get(key)
        if parser is None:
            raise _bad(
                url,
                f"unknown query parameter {key!r} (known: db, master_name, "
                f"{', '.join(sorted(_QUERY_PARSERS))}; other client options go in "
                "beatcore_store_options)",
            )
        try:
            kwargs[key] = parser(text)
        except ValueError as exc:
            raise _bad(url, f"query parameter {key}: {exc}") from None
    if "ssl_cert_reqs" in kwargs:
        try:
            kwargs["ssl_cert_reqs"] = _cert_reqs(kwargs["ssl_cert_reqs"])
        except ValueError as exc:
            raise ConfigurationError(f"ssl_cert_reqs for {mask_url(url)!r}: {exc}") from None
    ssl_keys = sorted(key for key in kwargs if key.startswith("ssl_"))
    if ssl_keys and not tls:
        raise _bad(url, f"TLS options ({', '.join(ssl_keys)}) need a rediss:// URL")
    return kwargs


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
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigurationError(f"retry_attempts must be an integer >= 1, got {attempts!r}")
        for name, value in (("retry_backoff_base", base), ("retry_backoff_cap", cap)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
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

    def call(self, what: str, operation: Callable[[], T]) -> T:
        """Run ``operation`` (one round trip or one pipeline), retrying transient errors.

        :raises StoreError: a permanent error (credentials, permissions, read-only replica,
            wrong key type, script error).
        :raises redis.exceptions.ConnectionError: still unreachable after every attempt.
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
            raise
        except RedisError as exc:
            raise self._permanent(what, exc) from exc
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

    def _permanent(self, what: str, exc: RedisError) -> StoreError:
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
            detail = self.diagnose_wrongtype() if self.diagnose_wrongtype else ""
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
    return not isinstance(error, AuthenticationError)
