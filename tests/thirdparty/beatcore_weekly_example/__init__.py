"""A schedule-type plugin written as a third party would: no beatcore base class at all.

``EveryNthSecond`` fires on wall-clock seconds divisible by ``n``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import beatcore


class EveryNthSecond:
    type_name: ClassVar[str] = "example.every_nth_second"

    def __init__(self, n: int) -> None:
        if n < 1:
            raise beatcore.InvalidSchedule(f"n must be >= 1, got {n}")
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EveryNthSecond) and other.n == self.n

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EveryNthSecond:
        return cls(int(data["n"]))

    def next_after(self, dt: datetime) -> datetime | None:
        base = dt.replace(microsecond=0) + timedelta(seconds=1)
        while base.second % self.n:
            base += timedelta(seconds=1)
        return base


@beatcore.hookimpl
def beatcore_schedule_types() -> list[type[Any]]:
    return [EveryNthSecond]
