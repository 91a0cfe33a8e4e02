"""``Clocked``: one run at one instant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import parse_isoformat, require_aware


def _aware(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidSchedule(f"clocked schedule needs a datetime, got {value!r}")
    return require_aware(value, "clocked time")


@attrs.frozen
class Clocked:
    """Exactly one occurrence, at ``at`` (an aware datetime).

    An entry saved with a ``Clocked`` time already in the past runs once at the next tick, as
    Celery's ``clocked`` and django-celery-beat do, subject to the entry's ``catch_up`` and
    ``misfire_grace``: with ``catch_up="skip"`` (once more than the missed threshold late) or
    when later than ``misfire_grace`` it is skipped, which is logged and counted.
    """

    type_name: ClassVar[str] = "clocked"
    #: The keys of :meth:`to_dict`, in the order a form shows them.
    field_names: ClassVar[tuple[str, ...]] = ("at",)

    at: datetime = attrs.field(converter=_aware)

    def next_after(self, dt: datetime) -> datetime | None:
        """Return ``at`` when it is after ``dt``, else None."""
        return self.at if self.at > require_aware(dt, "next_after argument") else None

    def overdue(self, now: datetime) -> datetime | None:
        """Return ``at`` when it is at or before ``now``, else None.

        Called when an entry is saved and :meth:`next_after` found nothing after ``now``: the
        one occurrence that is already past is then the entry's first run (see
        :func:`beatcore.timing.first_run_at`).
        """
        return self.at if self.at <= require_aware(now, "overdue argument") else None

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"at": iso}``."""
        return {"at": self.at.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Clocked:
        """Build a Clocked from :meth:`to_dict` output."""
        at = parse_isoformat(data.get("at"), "clocked time")
        if at is None:
            raise InvalidSchedule(f"clocked schedule needs 'at', got {dict(data)!r}")
        return cls(at)

    def describe(self) -> str:
        """Return "once at <instant>"."""
        return f"once at {self.at.isoformat()}"
