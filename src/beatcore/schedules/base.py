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


#: The members of ScheduleType, as the runtime Protocol check looks for them.
_MEMBERS = frozenset(("type_name", "to_dict", "from_dict", "next_after"))
#: Whether instances of a class are schedules, by class; weak, so classes made at runtime go.
_IS_SCHEDULE_CLASS: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def is_schedule(value: object) -> TypeGuard[ScheduleType]:
    """Return True when ``value`` is a schedule (an instance with the members of ScheduleType).

    Called whenever an Entry is built, which is for every record a tick or a static sync reads,
    and for every ``beat_schedule`` item (whose Celery schedules are not schedule types). The
    runtime Protocol check inspects every member on each call (about 10 µs), so the answer, yes
    or no, is remembered per class. An instance that holds some of the members itself (in its
    ``__dict__``) is not answered for by its class and is checked each time.
    """
    cls = type(value)
    known = _IS_SCHEDULE_CLASS.get(cls)
    if known is None or (not known and _holds_members(value)):
        # A class is never a schedule, though it has the members.
        known = not isinstance(value, type) and isinstance(value, ScheduleType)
        if not _holds_members(value):
            _IS_SCHEDULE_CLASS[cls] = known
    return known


def _holds_members(value: object) -> bool:
    own = getattr(value, "__dict__", None)
    return isinstance(own, dict) and not _MEMBERS.isdisjoint(own)


#: Optional members a schedule type may have besides the four of :class:`ScheduleType`:
#: ``describe() -> str`` (words for people), ``overdue(now) -> datetime | None`` (a one-off
#: whose only occurrence is at or before ``now`` returns it, so an entry saved late still runs
#: once at the next tick; see :func:`beatcore.timing.first_run_at`) and the class attribute
#: ``field_names: tuple[str, ...]`` (the keys :meth:`ScheduleType.to_dict` writes, so the web
#: dashboard's form shows one field per key; without it the form takes the dict as JSON).
OPTIONAL_MEMBERS = ("describe", "overdue", "field_names")


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
