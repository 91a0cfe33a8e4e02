"""The contract test suite for store authors, and test helpers.

Subclass :class:`StoreContract` in your test module and override its ``store`` and
``plant_corrupt_record`` fixtures; see docs/writing-stores.rst for the ten-line recipe.
:class:`DispatchRecorder` (with :func:`recording`) records what a scheduler sent, and
:func:`memory_broker_app` / :func:`drain_task_ids` give a scheduler a broker in memory, for
tests of schedule-type and listener plugins. :func:`plant_memory_record`,
:func:`plant_sqlite_record` and :func:`forget_memory_schedule` reach past the built-in stores'
API (planting unreadable records, dropping a memory schedule).

The names are imported on first use: pytest loads :mod:`beatcore.testing.pytest_plugin` (and so
this package) in every project where beatcore is installed, and most of those never touch
Celery in a test.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as type checkers see them; at run time see __getattr__
    from beatcore.testing.apps import drain_task_ids, memory_broker_app
    from beatcore.testing.clock import FakeClock
    from beatcore.testing.contract import StoreContract
    from beatcore.testing.recorder import DispatchRecorder, recording
    from beatcore.testing.records import (
        forget_memory_schedule,
        plant_memory_record,
        plant_sqlite_record,
    )

#: Each public name and the module that defines it.
_MODULES = {
    "DispatchRecorder": "beatcore.testing.recorder",
    "FakeClock": "beatcore.testing.clock",
    "StoreContract": "beatcore.testing.contract",
    "drain_task_ids": "beatcore.testing.apps",
    "forget_memory_schedule": "beatcore.testing.records",
    "memory_broker_app": "beatcore.testing.apps",
    "plant_memory_record": "beatcore.testing.records",
    "plant_sqlite_record": "beatcore.testing.records",
    "recording": "beatcore.testing.recorder",
}

__all__ = [
    "DispatchRecorder",
    "FakeClock",
    "StoreContract",
    "drain_task_ids",
    "forget_memory_schedule",
    "memory_broker_app",
    "plant_memory_record",
    "plant_sqlite_record",
    "recording",
]


def __getattr__(name: str) -> Any:
    """Import the public name ``name`` from its module on first use (PEP 562)."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'beatcore.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])
