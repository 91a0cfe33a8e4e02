"""Redis store URLs: parsing and validation, and masking passwords for display.

URL forms (docs/redis.rst has the full table):

``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` (TLS)
``redis+sentinel://[:password@]host1:26379,host2:26379[/db]?master_name=mymaster``
``sentinel://host1:26379;sentinel://host2:26379`` (Celery's broker form; ``master_name`` in
the options, as Celery takes it from ``broker_transport_options``)
``redis+cluster://host1:7000,host2:7001/``, ``rediss+cluster://...``
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from beatcore.errors import ConfigurationError
from beatcore.urls import mask_password, split_urls

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
        return mask_password(self.url)


def _bad(url: str, problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"invalid Redis URL {mask_password(url)!r} in beatcore_url: {problem}"
    )


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


def _split(url: str, part: str) -> Any:
    """Return ``urlsplit(part)``; a malformed host part is a ConfigurationError on ``url``."""
    try:
        return urlsplit(part)
    except ValueError:
        # urllib's message may quote the host part, which could be a piece of the password
        raise _bad(
            url,
            "its host part is malformed (an IPv6 address goes in brackets: [::1]:6379; a "
            "password holding '[' or ']' must write them as %5B and %5D)",
        ) from None


def _celery_sentinel(url: str) -> tuple[list[str], str]:
    """Split Celery's ``sentinel://a:26379;sentinel://b:26379/0`` into netlocs and a path."""
    netlocs, path, query = [], "", ""
    for part in split_urls(url):
        part = part.strip()
        if not part:
            continue
        parts = _split(url, part)
        if parts.scheme.lower() != "sentinel":
            raise _bad(url, f"every part of a Celery sentinel URL must start with sentinel://, "
                       f"got {mask_password(part)!r}")  # fmt: skip
        netlocs.append(parts.netloc)
        path = parts.path or path
        query = parts.query or query
    return netlocs, path + ("?" + query if query else "")


def parse_url(url: str, options: Mapping[str, Any] | None = None) -> ConnectionSpec:
    """Parse a Redis store URL and the store options into a :class:`ConnectionSpec`.

    :raises ConfigurationError: the URL or an option is malformed (the message names the URL,
        with its password masked, and what is wrong).
    """
    try:
        return _parse_url(url, options)
    except ConfigurationError:
        if _password_cut_short(url):
            # the parser read part of the password as host, port, path or query: naming
            # any of those would show it
            raise _bad(url, _ENCODE_PASSWORD) from None
        raise


_ENCODE_PASSWORD = (
    "its password seems to hold a character that must be percent-encoded there: write "
    "'/' as %2F, '?' as %3F, '#' as %23, '@' as %40 and '%' as %25 "
    "(urllib.parse.quote(password, safe=''))"
)


def _password_cut_short(url: str) -> bool:
    """True when an ``@`` follows the host part of a URL part: a password holding a raw
    ``/``, ``?`` or ``#`` ends the host part before its (last) ``@``, so what a parser reads
    as host, path or query holds part of the password (``:a@b?c@host`` has the host part
    ``:a@b``, and ``c@host`` looks like a query)."""
    for part in split_urls(url):
        try:
            netloc = urlsplit(part).netloc if "://" in part else ""
        except ValueError:
            netloc = ""
        rest = part.partition("://")[2]
        if "@" in rest[len(netloc) :]:
            return True
    return False


def _parse_url(url: str, options: Mapping[str, Any] | None) -> ConnectionSpec:
    options = dict(options or {})
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise _bad(url, f"unknown scheme {scheme!r} (use one of {', '.join(sorted(_SCHEMES))})")
    kind, tls = _SCHEMES[scheme]
    if scheme == "sentinel":
        netlocs, rest = _celery_sentinel(url)
        parts = _split(url, "sentinel://x" + rest)
    else:
        parts = _split(url, url)
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
            raise ConfigurationError(f"ssl_cert_reqs for {mask_password(url)!r}: {exc}") from None
    ssl_keys = sorted(key for key in kwargs if key.startswith("ssl_"))
    if ssl_keys and not tls:
        raise _bad(url, f"TLS options ({', '.join(ssl_keys)}) need a rediss:// URL")
    return kwargs
