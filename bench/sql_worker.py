"""One scenario of one side of the SQL benchmark at one N, in a process of its own.

``python -m bench.sql_worker --side postgres --scenario ticks --n 1000 ...`` writes a JSON
object to ``--out``. :mod:`bench.sql` starts one per side, N and scenario:

``startup``
    ``beat_schedule`` with N static entries: the scheduler's constructor on empty tables
    (cold), then again with the same entries stored (warm).
``ticks``
    N dynamic entries stored (untimed); construct the scheduler, take leadership; time idle
    ticks, then dispatching all N due with publishing excluded, then with real publishing to
    the Redis broker (the broker's queue must then hold one message per send).
``latency``
    A real ``celery beat`` process with N entries stored: the time from a change committed
    by another process to its task in the broker (:mod:`bench.sql_latency`).

A timed loop of django-celery-beat stops at ``--budget`` seconds; the figures then say how
many entries it sent in that time, and the harness extrapolates from that rate. Round trips
are counted in separate, untimed runs (:mod:`bench.sql_measure`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import redis

from bench.measure import RoundTripCounter
from bench.sides import (
    Sends,
    beat_schedule,
    count_publishing,
    entry_names,
    exclude_publishing,
)
from bench.sql_measure import PgRoundTrips
from bench.sql_sides import DjangoSide, PostgresSide, RedisSide, SqlSide

#: Ticks a dispatch may take beyond one per entry before the harness calls it stuck.
_SPARE_TICKS = 50
#: Idle ticks run before the idle tick is timed and counted (see scenario_ticks).
WARM_TICKS = 24
#: Entries due in the counted (untimed) dispatch: two of beatcore's batches.
COUNTED_DUE = 2_000
#: ... and for django-celery-beat, which sends one entry per tick.
COUNTED_DUE_DJANGO = 20
#: Seconds a timed startup may have taken for it to be run once more, counted (a counted run
#: costs as long again: django-celery-beat's startup at 1k entries takes a minute).
COUNT_IF_UNDER = 15.0


class Counter:
    """Round trips of one side to its schedule's server, in untimed runs."""

    def __init__(self, side: str, redis_port: int) -> None:
        self._pg = PgRoundTrips().install() if side != "redis" else None
        self._redis = RoundTripCounter().install() if side == "redis" else None
        self._port = redis_port

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[int]]:
        """The round trips made inside the block (the list holds one count once it ends)."""
        if self._pg is not None:
            with self._pg.counting() as found:
                yield found
            return
        assert self._redis is not None
        result: list[int] = []
        before = self._redis.get(self._port)
        try:
            yield result
        finally:
            result.append(self._redis.get(self._port) - before)


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def scenario_startup(side: SqlSide, n: int, repeats: int, counter: Counter) -> dict[str, Any]:
    """Time the constructor with N static entries, cold (empty tables) and warm."""
    config = beat_schedule(n)
    result: dict[str, Any] = {}
    for kind in ("cold", "warm"):
        seconds: list[float] = []
        for _ in range(repeats):
            if kind == "cold":
                side.reset()
            app = side.app(config)
            gc.collect()
            start = time.perf_counter()
            scheduler = side.start(app)
            seconds.append(time.perf_counter() - start)
            side.stop(scheduler)
        trips: float | None = None
        if max(seconds) < COUNT_IF_UNDER:
            if kind == "cold":
                side.reset()
            app = side.app(config)
            with counter.counting() as found:
                side.stop(side.start(app))
            trips = found[0]
        result[f"startup_{kind}"] = {
            "n": n,
            "seconds": _median(seconds),
            "seconds_all": [round(s, 6) for s in seconds],
            "round_trips": trips,
        }
    return result


def dispatch(scheduler: Any, sends: Sends, k: int, budget: float | None) -> dict[str, Any]:
    """Tick until ``k`` messages went to ``send_task``, or ``budget`` seconds passed."""
    sends.count = 0
    ticks = 0
    first = (0.0, 0)
    start = time.perf_counter()
    deadline = None if budget is None else start + budget
    while sends.count < k:
        if ticks >= k + _SPARE_TICKS:
            raise RuntimeError(f"dispatched only {sends.count} of {k} due entries in {ticks} ticks")
        if deadline is not None and time.perf_counter() >= deadline:
            break
        scheduler.tick()
        ticks += 1
        if ticks == 1:
            first = (time.perf_counter() - start, sends.count)
    seconds = time.perf_counter() - start
    complete = sends.count >= k
    return {
        "seconds": seconds,
        "sent": sends.count,
        "ticks": ticks,
        "complete": complete,
        "first_tick": {"seconds": first[0], "sent": first[1]},
        "estimated_seconds": seconds if complete else _extrapolated(seconds, first, k, sends.count),
    }


def _extrapolated(seconds: float, first: tuple[float, int], k: int, sent: int) -> float | None:
    """The time all ``k`` would have taken: the first tick (django-celery-beat reloads its
    whole schedule there, once per change) plus the rest at the rate of the ticks after it."""
    rest_seconds, rest_sent = seconds - first[0], sent - first[1]
    if rest_sent <= 0 or rest_seconds <= 0:
        return None
    return first[0] + (k - first[1]) * rest_seconds / rest_sent


def _summary(runs: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """The median of the runs; ``per_second`` is N over the time all N took (or would have
    taken, for a run stopped at its budget)."""
    rates = [n / run["estimated_seconds"] for run in runs if run["estimated_seconds"]]
    return {
        "n": n,
        "due": n,
        "repeats": len(runs),
        "seconds": _median([run["seconds"] for run in runs]),
        "sent": int(_median([run["sent"] for run in runs])),
        "ticks": _median([run["ticks"] for run in runs]),
        "complete": all(run["complete"] for run in runs),
        "per_second": _median(rates) if rates else 0.0,
        "estimated_seconds": _median([r["estimated_seconds"] or 0.0 for r in runs]),
        "first_tick_seconds": _median([run["first_tick"]["seconds"] for run in runs]),
        "seconds_all": [round(run["seconds"], 6) for run in runs],
    }


def scenario_ticks(
    side: SqlSide,
    n: int,
    repeats: int,
    counter: Counter,
    broker: redis.Redis,
    *,
    idle_repeats: int,
    budget: float | None,
) -> dict[str, Any]:
    """Idle tick, then all N due with publishing excluded, then with real publishing."""
    names = entry_names(n)
    side.reset()
    side.store_many(names)
    app = side.app()
    gc.collect()
    scheduler = side.start(app)
    side.lead(scheduler)
    sends = Sends()
    exclude_publishing(scheduler, sends)
    _ = scheduler.producer  # the broker connection every scheduler opens once, made up front
    result: dict[str, Any] = {}

    # psycopg prepares a statement on its 6th run on a connection, at the cost of one more
    # round trip, and each pooled connection does so once: the pool opens its first
    # connection in the background, so on a busy machine it may hold two or more by now
    for _ in range(WARM_TICKS):
        scheduler.tick()
    idle: list[float] = []
    for _ in range(max(idle_repeats, 1) + 1):
        start = time.perf_counter()
        scheduler.tick()
        idle.append(time.perf_counter() - start)
    with counter.counting() as found:
        scheduler.tick()
    if sends.count:
        raise RuntimeError(f"{sends.count} entries were sent by a tick with nothing due")
    result["tick_idle"] = {
        "n": n,
        "seconds": _median(idle[1:]),  # the first tick warms caches
        "seconds_all": [round(s, 6) for s in idle[1:]],
        "round_trips": found[0],
    }

    counted_due = COUNTED_DUE_DJANGO if side.name == "django" else min(n, COUNTED_DUE)
    side.settle(scheduler)
    side.make_due(app, names[:counted_due])
    with counter.counting() as found:
        counted = dispatch(scheduler, sends, counted_due, None)
    trips = {"due": counted_due, "ticks": counted["ticks"], "round_trips": found[0]}

    runs = []
    for _ in range(repeats):
        side.settle(scheduler)
        side.make_due(app, names)
        gc.collect()
        runs.append(dispatch(scheduler, sends, n, budget))
    result["dispatch"] = {**_summary(runs, n), "counted": trips}

    count_publishing(scheduler, sends)
    published = []
    queued = []
    for _ in range(repeats):
        side.settle(scheduler)
        broker.flushdb()
        side.make_due(app, names)
        gc.collect()
        published.append(dispatch(scheduler, sends, n, budget))
        queued.append(int(broker.llen("celery")))
    if any(q != run["sent"] for q, run in zip(queued, published, strict=True)):
        raise RuntimeError(
            f"the broker queue holds {queued} messages after dispatch, not the sends"
        )
    result["dispatch_publish"] = {**_summary(published, n), "queued": queued[-1]}
    broker.flushdb()
    side.stop(scheduler)
    return result


def make_side(name: str, args: argparse.Namespace) -> SqlSide:
    """The side called ``name``; django-celery-beat's needs Django set up first."""
    broker_url = f"redis://127.0.0.1:{args.broker_port}/0"
    if name == "django":
        import django  # type: ignore[import-untyped]

        django.setup()
        return DjangoSide("", broker_url)
    if name == "postgres":
        return PostgresSide(args.postgres_url, broker_url)
    return RedisSide(f"redis://127.0.0.1:{args.redis_port}/0", broker_url)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one scenario and write its figures as JSON to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m bench.sql_worker", description=__doc__)
    parser.add_argument("--side", required=True, choices=["postgres", "redis", "django"])
    parser.add_argument("--scenario", required=True, choices=["startup", "ticks", "latency"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idle-repeats", type=int, default=20)
    parser.add_argument("--budget", type=float, help="seconds a timed loop may take")
    parser.add_argument("--changes", type=int, default=10, help="changes timed (latency)")
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--redis-port", type=int, default=0)
    parser.add_argument("--broker-port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    side = make_side(args.side, args)
    broker = redis.Redis(host="127.0.0.1", port=args.broker_port, db=0)
    if args.scenario == "latency":
        from bench.sql_latency import scenario_latency

        result = scenario_latency(side, args.n, args.changes, broker, dict(os.environ))
    else:
        counter = Counter(args.side, args.redis_port)
        if args.scenario == "startup":
            result = scenario_startup(side, args.n, args.repeats, counter)
        else:
            result = scenario_ticks(
                side,
                args.n,
                args.repeats,
                counter,
                broker,
                idle_repeats=args.idle_repeats,
                budget=args.budget,
            )
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
