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

    An entry saved with a ``Clocked`` time already in the past has no occurrence left and never
    runs; the scheduler logs that when it sees it.
    """

    type_name: ClassVar[str] = "clocked"

    at: datetime = attrs.field(converter=_aware)

    def next_after(self, dt: datetime) -> datetime | None:
        """Return ``at`` when it is after ``dt``, else None."""
        return self.at if self.at > require_aware(dt, "next_after argument") else None

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
