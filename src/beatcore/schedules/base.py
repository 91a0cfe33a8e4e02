"""The schedule-type contract that built-in and plugin schedule types fulfil.

The contract is structural: any class with the four members of :class:`ScheduleType` works as a
schedule type, whether or not it inherits from anything in beatcore. Register the class through
the ``beatcore_schedule_types`` hook so stored entries using it can be read back.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeGuard, runtime_checkable

if TYPE_CHECKING:
    from typing_extensions import Self


@runtime_checkable
class ScheduleType(Protocol):
    """What beatcore needs from a schedule.

    ``type_name`` is stable forever: it is written into every stored record using the type.
    """

    type_name: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Return the schedule as a JSON-compatible dict (without ``type_name``).

        Called when an entry is stored. ``from_dict(to_dict())`` must give an equal schedule.
        """
        ...

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build the schedule from what :meth:`to_dict` returned.

        Called when a stored entry is read. Raises :class:`beatcore.errors.InvalidSchedule`
        naming the bad field when ``data`` is not a valid schedule of this type.
        """
        ...

    def next_after(self, dt: datetime) -> datetime | None:
        """Return the first occurrence strictly after the aware datetime ``dt``, or None.

        Called by the scheduler after each run and when an entry is saved. ``None`` means the
        schedule has no more occurrences. A calendar schedule without a time zone of its own is
        evaluated in ``dt``'s zone (the scheduler passes the entry's zone). The result is aware.
        """
        ...


_CONFORMING_CLASSES: weakref.WeakSet[type] = weakref.WeakSet()


def is_schedule(value: object) -> TypeGuard[ScheduleType]:
    """Return True when ``value`` is a schedule (an instance with the members of ScheduleType).

    Called whenever an Entry is built, which is for every record a tick or a static sync reads.
    The runtime Protocol check inspects every member on each call (about 10 µs), so the answer
    is remembered per class: the members live on the class, not on the instance.
    """
    cls = type(value)
    if cls in _CONFORMING_CLASSES:
        return True
    if isinstance(value, type) or not isinstance(value, ScheduleType):
        return False
    _CONFORMING_CLASSES.add(cls)
    return True


def describe(schedule: ScheduleType) -> str:
    """Return a short human description of ``schedule`` ("every 5 minutes").

    Uses the schedule's own ``describe()`` when it has one (an optional member), else its type
    name and fields.
    """
    own = getattr(schedule, "describe", None)
    if callable(own):
        return str(own())
    fields = ", ".join(f"{k}={v!r}" for k, v in schedule.to_dict().items())
    return f"{schedule.type_name}({fields})"
