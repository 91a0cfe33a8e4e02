"""The contract test suite for store authors, and test helpers.

Subclass :class:`StoreContract` in your test module and override its ``store`` and
``plant_corrupt_record`` fixtures; see docs/writing-stores.rst for the ten-line recipe.
:class:`DispatchRecorder` (with :func:`recording`) records what a scheduler sent, and
:func:`memory_broker_app` / :func:`drain_task_ids` give a scheduler a broker in memory, for
tests of schedule-type and listener plugins. :func:`plant_memory_record`,
:func:`plant_sqlite_record` and :func:`forget_memory_schedule` reach past the built-in stores'
API (planting unreadable records, dropping a memory schedule).
"""

from beatcore.testing.apps import drain_task_ids, memory_broker_app
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract import StoreContract
from beatcore.testing.recorder import DispatchRecorder, recording
from beatcore.testing.records import (
    forget_memory_schedule,
    plant_memory_record,
    plant_sqlite_record,
)

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
