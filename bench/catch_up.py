"""The tick that catches up after downtime: beatcore only (RedBeat has no catch-up policy).

Five entries due every second, beat down for three hours (:data:`ENTRIES`, :data:`DOWN`), on
the schedule server, with the store and the scheduler on one injected clock that jumps over
the downtime. The one tick after it is timed with publishing excluded, as in *dispatch*: it
walks each entry's missed occurrences, sends the latest (``catch_up="latest"``) and skips the
rest. Counted with it: the WARNING lines the tick logs (through the worker's stderr handler,
as beat would log them) and the calls listener plugins get about the skipped occurrences.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import beatcore
from beatcore import Entry, Interval
from beatcore.plugins import get_plugins
from beatcore.runs import Skipped
from beatcore.testing import FakeClock
from bench.measure import Probe, Sample, summarize
from bench.sides import TASK, Sends, Side, exclude_publishing

#: How many 1-second entries, and how long beat was down (seconds).
ENTRIES = 5
DOWN = 3 * 3600.0
_START = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class _SkipListener:
    """A listener of both skip hooks: the batch one and the deprecated per-occurrence one."""

    def __init__(self) -> None:
        self.calls = 0
        self.occurrences = 0

    @beatcore.hookimpl
    def beatcore_occurrences_skipped(self, skipped: Sequence[Skipped]) -> None:
        self.calls += 1
        self.occurrences += len(skipped)

    @beatcore.hookimpl
    def beatcore_occurrence_skipped(self) -> None:
        self.calls += 1


def scenario_catch_up(
    side: Side, repeats: int, probe: Probe, *, entries: int = ENTRIES, down: float = DOWN
) -> dict[str, Any]:
    """Time the one tick after ``down`` seconds without a leader, ``entries`` 1-second entries."""
    lines = _Lines()
    listener = _SkipListener()
    logging.getLogger("beatcore.scheduler").addHandler(lines)
    manager = get_plugins().manager
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # the old hook is listened to on purpose
        manager.register(listener)
    samples: list[Sample] = []
    counted: list[dict[str, int]] = []
    try:
        for _ in range(repeats):
            probe.server.flushdb()
            clock = FakeClock(_START)
            with beatcore.connect(side.schedule_url, clock=clock) as store:
                for i in range(entries):
                    store.save(Entry(name=f"every-second-{i}", task=TASK, schedule=Interval(1)))
            scheduler = beatcore.Scheduler(side.app(), clock=clock)
            scheduler.tick()  # takes the lock; nothing is due yet
            sends = Sends()
            exclude_publishing(scheduler, sends)
            _ = scheduler.producer
            clock.advance(down)
            lines.count = listener.calls = listener.occurrences = 0
            with probe.run() as sample:
                scheduler.tick()
            sample.ticks = 1
            samples.append(sample)
            counted.append(
                {
                    "sent": sends.count,
                    "warning_lines": lines.count,
                    "listener_calls": listener.calls,
                    "skipped": listener.occurrences,
                }
            )
            side.stop(scheduler)
    finally:
        manager.unregister(listener)
        logging.getLogger("beatcore.scheduler").removeHandler(lines)
    return {
        "catch_up": {
            **summarize(samples, entries),
            "entries": entries,
            "down_seconds": down,
            **counted[-1],
        }
    }
