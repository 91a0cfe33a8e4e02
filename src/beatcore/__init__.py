"""beatcore: a pluggable, multi-backend scheduler for Celery beat.

Run it with ``celery -A proj beat -S beatcore.Scheduler``; manage the schedule at runtime with
:func:`connect`.
"""

from __future__ import annotations

from typing import Any

from beatcore.entry import Entry, EntryState
from beatcore.errors import (
    BeatcoreError,
    ChangeRefused,
    ConfigurationError,
    CorruptRecord,
    EntryNotFound,
    InvalidEntry,
    InvalidSchedule,
    LockLost,
    MissingExtra,
    StoreError,
    StoreUnavailable,
    UnknownScheduleType,
)
from beatcore.hookspecs import hookimpl
from beatcore.schedules import Clocked, Crontab, Interval, ScheduleType, Solar
from beatcore.store import Lock, Store
from beatcore.timeutil import Clock

#: The distribution's version (pyproject.toml reads it from here).
__version__ = "0.1.0"

__all__ = [
    "BeatcoreError",
    "ChangeRefused",
    "Clocked",
    "ConfigurationError",
    "CorruptRecord",
    "Crontab",
    "Entry",
    "EntryNotFound",
    "EntryState",
    "Interval",
    "InvalidEntry",
    "InvalidSchedule",
    "Lock",
    "LockLost",
    "MissingExtra",
    "ScheduleType",
    "Scheduler",
    "Solar",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UnknownScheduleType",
    "__version__",
    "connect",
    "hookimpl",
]


def connect(app_or_url: Any = None, *, clock: Clock | None = None, **options: Any) -> Store:
    """Open the store of a Celery app (``app.conf.beatcore_url``) or of a URL.

    Called by management code; the returned store's changes are seen by a running beat at its
    next tick. ``options`` are passed to the store (they override ``beatcore_store_options``).

    :raises ConfigurationError: malformed URL or no store for its scheme.
    """
    from beatcore.plugins import get_plugins
    from beatcore.settings import DEFAULTS, Settings

    plugins = get_plugins()
    if isinstance(app_or_url, str):
        if "://" not in app_or_url:
            raise ConfigurationError(f"not a store URL: {app_or_url!r}")
        merged = {
            "key_prefix": DEFAULTS["beatcore_key_prefix"],
            "default_timezone": DEFAULTS["timezone"],
            **options,
        }
        if clock is not None:
            merged["clock"] = clock
        store: Store = plugins.store_from_url(app_or_url, merged)
        return store
    if app_or_url is None:
        from celery import current_app

        app_or_url = current_app
    settings = Settings.from_app(app_or_url)
    plugins.load_modules(settings.plugins)
    opened: Store = plugins.store_from_url(
        settings.url, {**settings.store_open_options(clock), **options}
    )
    opened.change_log_size = settings.change_log_size
    return opened


def __getattr__(name: str) -> Any:
    # The scheduler imports celery.beat; keep ``import beatcore`` light for management code.
    if name == "Scheduler":
        from beatcore.scheduler import Scheduler

        return Scheduler
    raise AttributeError(f"module 'beatcore' has no attribute {name!r}")
