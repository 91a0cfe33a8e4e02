"""One scenario of one side at one N, in a process of its own (so its RSS is its own).

``python -m bench.worker --side beatcore --scenario ticks --n 1000 ...`` writes a JSON object to
``--out``. :mod:`bench.run` starts one such process per side, N and scenario, in this order:

``store``
    Flush; store N dynamic entries in one batch (timed); flush; store them one by one through
    the public API (timed), save each again changed (timed); the last repeat leaves the N
    entries as first stored in place for ``ticks``.
``ticks``
    With those N stored entries and an empty ``beat_schedule``: construct the scheduler, take
    leadership, then time an idle tick, a tick with 1% due, dispatching all N with publishing
    excluded, and dispatching all N with real publishing to the broker. Its RSS is read after
    the idle ticks.
``startup``
    ``beat_schedule`` with N static entries: construct the scheduler on an empty schedule
    server (cold) and again with the entries already stored and unchanged (warm).
``catchup``
    beatcore only, the same at every N: the tick after hours without a leader, five 1-second
    entries (:mod:`bench.catch_up`).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from bench.catch_up import DOWN, scenario_catch_up
from bench.measure import (
    Probe,
    RoundTripCounter,
    Sample,
    memory_by_key,
    rss_mb,
    summarize,
    used_memory,
)
from bench.sides import (
    Sends,
    Side,
    beat_schedule,
    count_publishing,
    entry_names,
    exclude_publishing,
    side_class,
)

#: Ticks a dispatch may take beyond ``k / batch`` before the harness calls it stuck.
_SPARE_TICKS = 50


def scenario_store(side: Side, n: int, repeats: int, probe: Probe) -> dict[str, Any]:
    """Time storing N entries one by one, updating them, storing them in one batch; report
    Redis memory per entry. The last repeat leaves the N entries (as first stored) in place."""
    names = entry_names(n)
    samples: list[Sample] = []
    updates: list[Sample] = []
    batches: list[Sample] = []
    per_entry: list[float] = []
    breakdown: dict[str, float] = {}
    side.store_entries(names[:1])  # untimed: loads what the first write loads (scripts)
    for _ in range(repeats):
        probe.server.flushdb()
        gc.collect()
        with probe.run() as sample:
            side.store_many(names)
        batches.append(sample)
        probe.server.flushdb()
        gc.collect()
        before = used_memory(probe.server)
        with probe.run() as sample:
            side.store_entries(names)
        samples.append(sample)
        per_entry.append((used_memory(probe.server) - before) / n)
        if not breakdown:
            breakdown = memory_by_key(probe.server, n)
        with probe.run() as sample:
            side.update_entries(names)
        updates.append(sample)
        probe.server.flushdb()
        side.store_entries(names)
    result = {
        "store": summarize(samples, n),
        "update": summarize(updates, n),
        "store_many": summarize(batches, n),
    }
    result["memory_per_entry"] = {
        "n": n,
        "bytes": statistics.median(per_entry),
        "by_key": breakdown,  # MEMORY USAGE of each key (group), per entry
    }
    return result


def scenario_startup(side: Side, n: int, repeats: int, probe: Probe) -> dict[str, Any]:
    """Time constructing the scheduler with N static entries, cold then warm.

    One untimed start with one static entry comes first, so the server has each script the
    start calls in its script cache at every N (as the store scenario leaves the others): a
    start on a server that never saw a script pays two more round trips for it, once.
    """
    config = beat_schedule(n)
    probe.server.flushdb()
    side.stop(side.start(side.app(beat_schedule(1))))
    cold: list[Sample] = []
    warm: list[Sample] = []
    rss_before = rss_after = 0.0
    for i in range(repeats):
        probe.server.flushdb()
        app = side.app(config)
        gc.collect()
        if i == 0:
            rss_before = rss_mb()
        with probe.run() as sample:
            scheduler = side.start(app)
        if i == 0:
            rss_after = rss_mb()
        cold.append(sample)
        side.stop(scheduler)
    for _ in range(repeats):
        app = side.app(config)
        gc.collect()
        with probe.run() as sample:
            scheduler = side.start(app)
        warm.append(sample)
        side.stop(scheduler)
    return {
        "startup_cold": summarize(cold, n),
        "startup_warm": summarize(warm, n),
        "rss_startup_static": {"n": n, "mb": rss_after, "mb_before_scheduler": rss_before},
    }


def _dispatch(scheduler: Any, sends: Sends, k: int, sample: Sample, batch: int) -> None:
    """Tick until ``k`` messages went to ``send_task``; record the number of ticks."""
    sends.count = 0
    limit = k // batch + _SPARE_TICKS
    while sends.count < k:
        if sample.ticks >= limit:
            raise RuntimeError(
                f"dispatched only {sends.count} of {k} due entries in {sample.ticks} ticks"
            )
        scheduler.tick()
        sample.ticks += 1


def scenario_ticks(
    side: Side,
    n: int,
    repeats: int,
    probe: Probe,
    broker: redis.Redis,
    *,
    idle_repeats: int,
    batch: int,
) -> dict[str, Any]:
    """Idle tick, 1% due, all due (publishing excluded), all due with publishing."""
    names = entry_names(n)
    app = side.app()
    gc.collect()
    rss_before = rss_mb()
    scheduler = side.start(app)
    side.lead(scheduler)
    sends = Sends()
    exclude_publishing(scheduler, sends)
    _ = scheduler.producer  # the broker connection both schedulers open once, made up front
    result: dict[str, Any] = {}

    idle: list[Sample] = []
    for _ in range(max(idle_repeats, 1) + 1):
        with probe.run() as sample:
            scheduler.tick()
        sample.ticks = 1
        idle.append(sample)
    if sends.count:
        raise RuntimeError(f"{sends.count} entries were sent by a tick with nothing due")
    result["tick_idle"] = summarize(idle[1:], n)  # the first tick warms caches
    gc.collect()
    result["rss_idle"] = {"n": n, "mb": rss_mb(), "mb_before_scheduler": rss_before}

    k = max(1, n // 100)
    some = names[:: max(1, n // k)][:k]
    # One untimed round first: it loads the scripts a dispatch uses (EVALSHA -> NOSCRIPT).
    side.make_due(app, some)
    _dispatch(scheduler, sends, k, Sample(0.0, 0, 0), batch)
    one_percent: list[Sample] = []
    for _ in range(repeats):
        side.make_due(app, some)
        with probe.run() as sample:
            _dispatch(scheduler, sends, k, sample, batch)
        one_percent.append(sample)
    result["tick_1pct"] = {**summarize(one_percent, n), "due": k}

    everything: list[Sample] = []
    for _ in range(repeats):
        side.make_due(app, names)
        with probe.run() as sample:
            _dispatch(scheduler, sends, n, sample, batch)
        everything.append(sample)
    result["dispatch"] = {**summarize(everything, n), "due": n}

    count_publishing(scheduler, sends)
    published: list[Sample] = []
    queued: list[int] = []
    for _ in range(repeats):
        broker.flushdb()
        side.make_due(app, names)
        with probe.run() as sample:
            _dispatch(scheduler, sends, n, sample, batch)
        published.append(sample)
        queued.append(int(broker.llen("celery")))
    if any(q != n for q in queued):
        raise RuntimeError(f"the broker queue holds {queued} messages after dispatch, not {n}")
    result["dispatch_publish"] = {**summarize(published, n), "due": n, "queued": queued[-1]}
    broker.flushdb()
    side.stop(scheduler)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run one scenario and write its figures as JSON to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__)
    parser.add_argument("--side", required=True, choices=["beatcore", "redbeat"])
    parser.add_argument(
        "--scenario", required=True, choices=["store", "ticks", "startup", "catchup"]
    )
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idle-repeats", type=int, default=20)
    parser.add_argument("--schedule-port", type=int, required=True)
    parser.add_argument("--broker-port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--catch-up-down", type=float, default=DOWN, help="seconds beat was down")
    args = parser.parse_args(argv)

    # Both schedulers log every sent task at INFO; at WARNING neither pays for formatting.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    counter = RoundTripCounter().install()
    server = redis.Redis(host="127.0.0.1", port=args.schedule_port, db=0)
    broker = redis.Redis(host="127.0.0.1", port=args.broker_port, db=0)
    probe = Probe(counter, server, args.schedule_port, args.broker_port)
    side = side_class(args.side)(
        f"redis://127.0.0.1:{args.schedule_port}/0", f"redis://127.0.0.1:{args.broker_port}/0"
    )
    if args.scenario == "store":
        result = scenario_store(side, args.n, args.repeats, probe)
    elif args.scenario == "startup":
        result = scenario_startup(side, args.n, args.repeats, probe)
    elif args.scenario == "catchup":
        result = scenario_catch_up(side, args.repeats, probe, down=args.catch_up_down)
    else:
        batch = int(side.app().conf.get("beatcore_batch_size") or 1000)
        result = scenario_ticks(
            side,
            args.n,
            args.repeats,
            probe,
            broker,
            idle_repeats=args.idle_repeats,
            batch=batch,
        )
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
