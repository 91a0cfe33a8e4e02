"""The handle every part of the Redis store works through: client, round trips, keys, clock.

:class:`RedisHandle` is frozen and built once per store, complete: the lock, the startup checks,
the compare-and-set writes, the static sync and the claim/ack calls all take it, and none of
them knows the store. :func:`open_handle` turns a URL and ``beatcore_store_options`` into one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

import attrs

from beatcore import storekit
from beatcore.errors import ConfigurationError
from beatcore.timeutil import Clock, utc_now
from beatcore.values import is_integer, is_number
from beatcore_redis.calls import RedisCalls
from beatcore_redis.connection import RetryingCaller, build_client
from beatcore_redis.keys import KeyLayout, describe_wrong_types
from beatcore_redis.urls import parse_url


@attrs.frozen
class RedisHandle:
    """One schedule in one Redis: what every call of the store needs.

    :param client: the redis-py client (``Redis``, a Sentinel master, ``RedisCluster``, or
        fakeredis in tests).
    :param calls: its round trips under the retry policy (:class:`~.calls.RedisCalls`).
    :param keys: the key names under ``beatcore_key_prefix``.
    :param clock: the clock for due and claim times (the lock expires on Redis time).
    :param url: the URL, password masked, for messages.
    :param default_timezone: zone of calendar schedules whose entry sets no ``tz``.
    """

    client: Any
    calls: RedisCalls
    keys: KeyLayout
    clock: Clock
    url: str
    default_timezone: str | tzinfo | None = None

    def now(self) -> datetime:
        """The clock's current instant."""
        return self.clock()

    @staticmethod
    def score(when: datetime | None) -> str:
        """Return ``when`` as a due-index score for the scripts (``""``: not due)."""
        return "" if when is None else str(storekit.to_micros(when))


def build_handle(
    client: Any,
    *,
    url: str,
    key_prefix: str,
    clock: Clock,
    default_timezone: str | tzinfo | None,
    retry: RetryingCaller | None,
    wait_replicas: int,
    wait_timeout: float,
) -> RedisHandle:
    """Return the handle of the schedule under ``key_prefix`` reached through ``client``.

    :raises ConfigurationError: the prefix is malformed (checked now, not at the first call).
    """
    keys = KeyLayout(key_prefix)
    keys.base  # noqa: B018 - validates the prefix
    calls = RedisCalls(
        client,
        retry or RetryingCaller(url),
        diagnose_wrongtype=functools.partial(describe_wrong_types, client, keys),
        wait_replicas=wait_replicas,
        wait_timeout=wait_timeout,
    )
    return RedisHandle(client, calls, keys, clock, url, default_timezone)


def open_handle(url: str, options: Mapping[str, Any]) -> RedisHandle:
    """Return the handle for ``url`` and ``options`` (see :func:`.store.open_store`),
    connecting a client unless ``options["client"]`` holds one.

    :raises ConfigurationError: the URL or an option is malformed.
    """
    spec = parse_url(url, options)
    retry = RetryingCaller(
        spec.masked_url,
        attempts=options.get("retry_attempts", 6),
        base=options.get("retry_backoff_base", 0.1),
        cap=options.get("retry_backoff_cap", 2.0),
    )
    wait_replicas = _non_negative_int(
        "wait_replicas", options.get("wait_replicas", 1 if spec.kind == "sentinel" else 0)
    )
    if wait_replicas and spec.kind == "cluster":
        raise ConfigurationError(
            "beatcore_store_options['wait_replicas'] is not supported on Redis Cluster URLs "
            f"({spec.masked_url!r}); leave it unset there"
        )
    wait_timeout = options.get("wait_timeout", 0.5)
    if not is_number(wait_timeout):
        raise ConfigurationError(
            f"beatcore_store_options['wait_timeout'] must be a number of seconds, "
            f"got {wait_timeout!r}"
        )
    client = options.get("client")
    if client is None:
        client = retry.call("connect", lambda: build_client(spec))
    return build_handle(
        client,
        url=spec.masked_url,
        key_prefix=options.get("key_prefix") or "beatcore:",
        clock=options.get("clock") or utc_now,
        default_timezone=options.get("default_timezone"),
        retry=retry,
        wait_replicas=wait_replicas,
        wait_timeout=float(wait_timeout),
    )


def _non_negative_int(name: str, value: Any) -> int:
    if not is_integer(value) or value < 0:
        raise ConfigurationError(
            f"beatcore_store_options[{name!r}] must be an integer >= 0, got {value!r}"
        )
    return value
