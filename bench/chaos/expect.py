"""What should have run: each entry's schedule over the time it existed, as segments.

Every schedule in the harness is an anchored ``Interval`` of whole seconds, so occurrences are
the grid ``anchor + k * every`` and a run is matched to its occurrence by recomputing the
deterministic task id (:func:`beatcore.timing.task_id`) for each grid point.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

import attrs

from beatcore import timing
from beatcore.timeutil import UTC

#: Seconds before a change (disable, remove, reschedule, data loss) in which an occurrence may
#: or may not still be sent: the leader's tick races the change.
CLOSE_BAND = 1.0


@attrs.define
class Segment:
    """A stretch of time in which one schedule of an entry is in force.

    Occurrences after ``opened`` (the end of the call that made it, ``opened_from`` its start)
    and up to ``closed`` are expected; those in the call itself or within :data:`CLOSE_BAND`
    before ``closed`` are optional (they race the change).
    """

    every: float
    anchor: float
    opened_from: float
    opened: float
    closed_from: float | None = None
    closed: float | None = None

    def grid(self, start: float, end: float) -> Iterator[float]:
        """Grid points in ``(start, end]``."""
        k = math.floor((start - self.anchor) / self.every) + 1
        while (point := self.anchor + k * self.every) <= end:
            if point > start:
                yield point
            k += 1

    def classify(self, until: float) -> tuple[set[float], set[float]]:
        """Return (expected, optional) occurrences up to ``until``."""
        end_from = until if self.closed_from is None else min(until, self.closed_from)
        end = until if self.closed is None else min(until, self.closed)
        expected = set(self.grid(self.opened, end_from - (CLOSE_BAND if self.closed else 0.0)))
        optional = set(self.grid(self.opened_from, self.opened))
        if self.closed is not None:
            optional |= set(self.grid(end_from - CLOSE_BAND, end))
        return expected - optional, optional


@attrs.define
class EntryPlan:
    """One entry's segments and catch-up policy."""

    name: str
    catch_up: str = "latest"
    segments: list[Segment] = attrs.field(factory=list)

    @property
    def open_segment(self) -> Segment | None:
        """The segment still in force, if any."""
        if self.segments and self.segments[-1].closed is None:
            return self.segments[-1]
        return None

    def open(self, every: float, anchor: float, t0: float, t1: float) -> None:
        """A schedule came into force by a call that ran from ``t0`` to ``t1``."""
        self.segments.append(Segment(every, anchor, t0, t1))

    def close(self, t0: float, t1: float) -> None:
        """The schedule in force stopped by a call that ran from ``t0`` to ``t1``."""
        seg = self.open_segment
        if seg is not None:
            seg.closed_from, seg.closed = t0, t1

    def classify(self, until: float) -> tuple[set[float], set[float]]:
        """Return (expected, optional) occurrences over all segments up to ``until``."""
        expected: set[float] = set()
        optional: set[float] = set()
        for seg in self.segments:
            e, o = seg.classify(until)
            expected |= e
            optional |= o
        return expected - optional, optional

    def task_ids(self, until: float, margin: float = 120.0) -> dict[str, float]:
        """Task id -> occurrence for every whole second the entry could have run at."""
        if not self.segments:
            return {}
        start = min(s.opened_from for s in self.segments) - margin
        ids: dict[str, float] = {}
        for second in range(math.floor(start), math.ceil(until + margin) + 1):
            ids[timing.task_id(self.name, datetime.fromtimestamp(second, UTC))] = float(second)
        return ids
