"""The ``beatcore_*`` settings, read once from ``app.conf`` with their defaults.

The table in docs/configuration.rst lists the same names and defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from beatcore.errors import ConfigurationError
from beatcore.timeutil import Clock, utc_now
from beatcore.values import is_integer, is_number

#: Suffix of the SQLite file used when ``beatcore_url`` is not set.
DEFAULT_SQLITE_SUFFIX = ".beatcore.sqlite3"

#: The default of every setting with one, by its ``app.conf`` name: the one place they are
#: written (:class:`Settings`, :class:`beatcore.timing.CatchUpSettings`, :func:`beatcore.connect`
#: and the scheduler read them here; docs/configuration.rst lists them, a test keeps it so).
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "beatcore_lock_ttl": 30.0,
        "beatcore_key_prefix": "beatcore:",
        "beatcore_plugins": (),
        "beatcore_store_options": MappingProxyType({}),
        "beatcore_batch_size": 1000,
        "beatcore_publish_batch_size": 100,
        "beatcore_missed_threshold": 60.0,
        "beatcore_catch_up_limit": 100,
        "beatcore_reclaim_after": None,
        "beatcore_dispatch_retry_delay": 5.0,
        "beat_max_loop_interval": 5.0,
        "beatcore_clock": None,
        "beatcore_history_size": 100,
        "beatcore_change_log_size": 100,
        "beatcore_metrics_port": None,
        "beatcore_metrics_host": "127.0.0.1",
        "beatcore_metrics_entry_labels": False,
        "beatcore_metrics_count_interval": 60.0,
        "beatcore_track_runs": False,
        "beatcore_overlap_timeout": 3600.0,
        "timezone": "UTC",
    }
)


def _positive(name: str, value: Any) -> float:
    if not is_number(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _positive_int(name: str, value: Any) -> int:
    if not is_integer(value) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return value


def _count(name: str, value: Any) -> int:
    if not is_integer(value) or value < 0:
        raise ConfigurationError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _port(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if not is_integer(value) or not 0 <= value <= 65535:
        raise ConfigurationError(f"{name} must be a TCP port number (0-65535), got {value!r}")
    return int(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def load_clock(path: str | None) -> Clock:
    """Return the clock named by ``beatcore_clock`` (an import path), or the real UTC clock.

    The setting exists so fault tests can run one beat with a skewed clock; a clock returns
    an aware datetime.
    """
    if not path:
        return utc_now
    from celery.utils.imports import symbol_by_name  # Celery only when a clock is named

    try:
        clock = symbol_by_name(path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"beatcore_clock {path!r} cannot be imported: {exc}") from exc
    if not callable(clock):
        raise ConfigurationError(f"beatcore_clock {path!r} is not callable")
    return clock  # type: ignore[no-any-return]


def default_url(schedule_filename: str | None) -> str:
    """Return the SQLite URL beside celery beat's ``--schedule`` file (``celerybeat-schedule``)."""
    base = schedule_filename or "celerybeat-schedule"
    return "sqlite:///" + os.path.abspath(base + DEFAULT_SQLITE_SUFFIX)


@attrs.frozen
class Settings:
    """Every beatcore setting with its default; see docs/configuration.rst."""

    url: str
    lock_ttl: float = DEFAULTS["beatcore_lock_ttl"]
    key_prefix: str = DEFAULTS["beatcore_key_prefix"]
    plugins: tuple[str, ...] = DEFAULTS["beatcore_plugins"]
    store_options: Mapping[str, Any] = attrs.field(factory=dict)
    batch_size: int = DEFAULTS["beatcore_batch_size"]
    publish_batch_size: int = DEFAULTS["beatcore_publish_batch_size"]
    missed_threshold: float = DEFAULTS["beatcore_missed_threshold"]
    catch_up_limit: int = DEFAULTS["beatcore_catch_up_limit"]
    reclaim_after: float | None = DEFAULTS["beatcore_reclaim_after"]
    max_interval: float = DEFAULTS["beat_max_loop_interval"]
    dispatch_retry_delay: float = DEFAULTS["beatcore_dispatch_retry_delay"]
    timezone: str = DEFAULTS["timezone"]
    clock: str | None = DEFAULTS["beatcore_clock"]
    history_size: int = DEFAULTS["beatcore_history_size"]
    change_log_size: int = DEFAULTS["beatcore_change_log_size"]
    metrics_port: int | None = DEFAULTS["beatcore_metrics_port"]
    metrics_host: str = DEFAULTS["beatcore_metrics_host"]
    metrics_entry_labels: bool = DEFAULTS["beatcore_metrics_entry_labels"]
    metrics_count_interval: float = DEFAULTS["beatcore_metrics_count_interval"]
    track_runs: bool = DEFAULTS["beatcore_track_runs"]
    overlap_timeout: float = DEFAULTS["beatcore_overlap_timeout"]

    @property
    def effective_reclaim_after(self) -> float:
        """Seconds before an unacked claim is re-sent by the next claim (default: lock TTL)."""
        return self.reclaim_after if self.reclaim_after is not None else self.lock_ttl

    @classmethod
    def from_app(cls, app: Any, schedule_filename: str | None = None) -> Settings:
        """Read the settings from ``app.conf``; raise :class:`ConfigurationError` if invalid."""
        conf = app.conf

        def get(name: str) -> Any:
            value = conf.get(name)
            return DEFAULTS[name] if value is None else value

        url = conf.get("beatcore_url") or default_url(
            schedule_filename or conf.get("beat_schedule_filename")
        )
        if not isinstance(url, str) or "://" not in url:
            raise ConfigurationError(
                f"beatcore_url must be a URL like redis://host:6379/0, got {url!r}"
            )
        plugins = get("beatcore_plugins")
        if isinstance(plugins, str):
            plugins = [p.strip() for p in plugins.split(",") if p.strip()]
        store_options = get("beatcore_store_options")
        if not isinstance(store_options, Mapping):
            raise ConfigurationError(
                f"beatcore_store_options must be a dict, got {store_options!r}"
            )
        key_prefix = get("beatcore_key_prefix")
        if not isinstance(key_prefix, str) or not key_prefix:
            raise ConfigurationError(
                f"beatcore_key_prefix must be a non-empty string, got {key_prefix!r}"
            )
        reclaim = get("beatcore_reclaim_after")
        metrics_host = get("beatcore_metrics_host")
        if not isinstance(metrics_host, str) or not metrics_host:
            raise ConfigurationError(
                f"beatcore_metrics_host must be a host name or address, got {metrics_host!r}"
            )
        return cls(
            url=url,
            lock_ttl=_positive("beatcore_lock_ttl", get("beatcore_lock_ttl")),
            key_prefix=key_prefix,
            plugins=tuple(plugins),
            store_options=dict(store_options),
            batch_size=_positive_int("beatcore_batch_size", get("beatcore_batch_size")),
            publish_batch_size=_positive_int(
                "beatcore_publish_batch_size", get("beatcore_publish_batch_size")
            ),
            missed_threshold=_positive(
                "beatcore_missed_threshold", get("beatcore_missed_threshold")
            ),
            catch_up_limit=_positive_int("beatcore_catch_up_limit", get("beatcore_catch_up_limit")),
            reclaim_after=None if reclaim is None else _positive("beatcore_reclaim_after", reclaim),
            # Celery's own default is 0, "the scheduler's default", as it is here
            max_interval=_positive(
                "beat_max_loop_interval",
                conf.get("beat_max_loop_interval") or DEFAULTS["beat_max_loop_interval"],
            ),
            dispatch_retry_delay=_positive(
                "beatcore_dispatch_retry_delay", get("beatcore_dispatch_retry_delay")
            ),
            timezone=str(conf.get("timezone") or DEFAULTS["timezone"]),
            clock=get("beatcore_clock"),
            history_size=_count("beatcore_history_size", get("beatcore_history_size")),
            change_log_size=_count("beatcore_change_log_size", get("beatcore_change_log_size")),
            metrics_port=_port("beatcore_metrics_port", get("beatcore_metrics_port")),
            metrics_host=metrics_host,
            metrics_entry_labels=_flag(
                "beatcore_metrics_entry_labels", get("beatcore_metrics_entry_labels")
            ),
            metrics_count_interval=_positive(
                "beatcore_metrics_count_interval", get("beatcore_metrics_count_interval")
            ),
            track_runs=_flag("beatcore_track_runs", get("beatcore_track_runs")),
            overlap_timeout=_positive("beatcore_overlap_timeout", get("beatcore_overlap_timeout")),
        )

    def store_open_options(self, clock: Any = None) -> dict[str, Any]:
        """Return the ``options`` given to ``beatcore_store_from_url``."""
        options = dict(self.store_options)
        options.setdefault("key_prefix", self.key_prefix)
        options.setdefault("default_timezone", self.timezone)
        if clock is not None:
            options["clock"] = clock
        return options
