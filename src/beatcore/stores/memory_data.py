"""The data of each ``memory://NAME`` schedule, shared by every memory store of that name in
the process (as kombu's memory transport shares a virtual broker)."""

from __future__ import annotations

import threading

import attrs

from beatcore.record_table import RecordTable
from beatcore.stores.memory_lock import LockRecord


@attrs.define
class ScheduleData:
    """All data of one ``memory://NAME`` schedule, guarded by ``mutex``: its records (a
    :class:`~beatcore.record_table.RecordTable` of dicts), the change log, what beat
    recorded about itself, and the lock's lease and fencing counter."""

    mutex: threading.RLock = attrs.field(factory=threading.RLock)
    table: RecordTable = attrs.field(factory=RecordTable)
    #: The change log: (entry name, the change's JSON), newest first.
    change_log: list[tuple[str, str]] = attrs.field(factory=list)
    beat_info: str | None = None
    lock: LockRecord | None = None
    fence: int = 0


_SCHEDULES: dict[str, ScheduleData] = {}
_SCHEDULES_MUTEX = threading.Lock()


def shared(name: str) -> ScheduleData:
    """Return the data of ``memory://NAME``, created empty by the first store of that name."""
    with _SCHEDULES_MUTEX:
        return _SCHEDULES.setdefault(name, ScheduleData())


def forget(name: str) -> None:
    """Drop the data of ``memory://NAME``: a later store of that name starts empty."""
    with _SCHEDULES_MUTEX:
        _SCHEDULES.pop(name, None)
