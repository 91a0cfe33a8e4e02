"""beatcore.settings: one table of defaults, read by everything that needs one."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from celery import Celery

from beatcore.errors import ConfigurationError
from beatcore.settings import DEFAULTS, Settings
from beatcore.timing import CatchUpSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.rst"

#: Settings field -> app.conf name.
FIELDS = {
    "lock_ttl": "beatcore_lock_ttl",
    "key_prefix": "beatcore_key_prefix",
    "plugins": "beatcore_plugins",
    "batch_size": "beatcore_batch_size",
    "publish_batch_size": "beatcore_publish_batch_size",
    "missed_threshold": "beatcore_missed_threshold",
    "catch_up_limit": "beatcore_catch_up_limit",
    "reclaim_after": "beatcore_reclaim_after",
    "max_interval": "beat_max_loop_interval",
    "dispatch_retry_delay": "beatcore_dispatch_retry_delay",
    "timezone": "timezone",
    "clock": "beatcore_clock",
    "history_size": "beatcore_history_size",
    "metrics_port": "beatcore_metrics_port",
    "metrics_host": "beatcore_metrics_host",
    "metrics_entry_labels": "beatcore_metrics_entry_labels",
    "metrics_count_interval": "beatcore_metrics_count_interval",
}


def app(**conf: Any) -> Celery:
    app = Celery("settings-test", set_as_current=False)
    app.conf.update(beatcore_url="memory://settings", **conf)
    return app


def documented_defaults() -> dict[str, str]:
    """The default column of the settings table in docs/configuration.rst, by setting."""
    rows = re.findall(r"\* - ``(\w+)``\n\s+- (.+)\n", DOCS.read_text())
    return dict(rows)


def test_the_settings_and_their_class_defaults_come_from_the_one_table() -> None:
    read = Settings.from_app(app())
    for field, name in FIELDS.items():
        assert getattr(read, field) == DEFAULTS[name], name
        assert attrs.fields_dict(Settings)[field].default == DEFAULTS[name], name
    assert dict(read.store_options) == dict(DEFAULTS["beatcore_store_options"])
    assert CatchUpSettings() == CatchUpSettings(
        missed_threshold=DEFAULTS["beatcore_missed_threshold"],
        catch_up_limit=DEFAULTS["beatcore_catch_up_limit"],
    )


def test_the_documented_defaults_are_the_table() -> None:
    documented = documented_defaults()
    assert set(DEFAULTS) <= set(documented), "a setting with a default is not documented"
    for name, default in DEFAULTS.items():
        cell = documented[name]
        literal = re.fullmatch(r"``(.+?)``(?: \(Celery's own setting\))?", cell)
        if default is None:
            assert literal is None, f"{name}: documented as {cell}, has no literal default"
            continue
        assert literal is not None, f"{name}: documented as {cell}, default {default!r}"
        assert ast.literal_eval(literal.group(1)) == default, name


def test_a_set_value_wins_and_a_bad_one_is_named() -> None:
    read = Settings.from_app(app(beatcore_lock_ttl=12, beatcore_catch_up_limit=3))
    assert (read.lock_ttl, read.catch_up_limit) == (12.0, 3)
    with pytest.raises(ConfigurationError, match="beatcore_batch_size must be a positive"):
        Settings.from_app(app(beatcore_batch_size=0))
