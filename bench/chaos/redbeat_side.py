"""The same faults against RedBeat (``celery-redbeat``), for the comparison on the Guarantees page.

RedBeat's task ids are random and its interval schedules drift (each run is due one period
after the previous *run*), so occurrences cannot be matched one by one. Its runs are judged
from the gaps between consecutive runs of each entry instead: two runs closer than half a
period are a duplicate; a gap of ``g`` periods (g > 1.5) holds ``round(g) - 1`` runs that never
happened (RedBeat logs nothing about them, so they count as missed). "Expected" is then the
runs plus the missing ones, and "lateness" the excess of each such gap over one period.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import schedule

from bench.chaos.expect import EntryPlan
from bench.chaos.harness import Event
from bench.chaos.report import BeatLog, ScenarioResult, leadership

TASK = "chaos.record"


def save_entries(url: str, entries: dict[str, int], plans: dict[str, EntryPlan]) -> None:
    """Write each entry (name -> seconds) with RedBeat's own API and open its plan."""
    from redbeat import RedBeatSchedulerEntry  # type: ignore[import-untyped]

    app = Celery("chaos-admin", set_as_current=False)
    app.conf.update(redbeat_redis_url=url, timezone="UTC")
    for name, every in entries.items():
        t0 = time.time()
        RedBeatSchedulerEntry(
            name, TASK, schedule(run_every=timedelta(seconds=every)), args=(name, 0), app=app
        ).save()
        t1 = time.time()
        plans.setdefault(name, EntryPlan(name)).open(every, t1, t0, t1 + 1.0)


def analyse_gaps(
    result: ScenarioResult,
    plans: Sequence[EntryPlan],
    records: Sequence[dict[str, Any]],
    logs: Sequence[BeatLog],
    events: Sequence[Event],
    until: float,
) -> ScenarioResult:
    """Fill ``result`` from the gaps between runs of each entry inside ``(start, until]``."""
    for plan in plans:
        seg = plan.segments[0]
        every, start = seg.every, seg.opened
        runs = sorted(
            float(r["at"]) for r in records if r["entry"] == plan.name and start < r["at"] <= until
        )
        duplicates = 0
        missing = 0
        points = [start, *runs, until]
        for index, (before, after) in enumerate(itertools.pairwise(points)):
            gap = (after - before) / every
            between_runs = 0 < index < len(points) - 2
            if between_runs and gap < 0.5:
                duplicates += 1
                result.details.append(f"duplicated {plan.name}: runs {gap * every:.3f}s apart")
            elif gap > 1.5:
                missing += round(gap) - 1
                result.lateness.append(after - before - every)
        result.duplicated += duplicates
        result.once += len(runs) - duplicates
        result.missed += missing
        # No grid to count against: the occurrences implied by the runs and the gaps.
        result.expected += len(runs) - duplicates + missing
    leadership(result, logs, events)
    return result
