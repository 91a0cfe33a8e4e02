"""beatcore and RedBeat side by side, on the same redis-server, in one run.

Run from the repository root::

    pip install -e ".[redis,bench]"
    python -m bench                    # N = 1k, 10k, 100k (RedBeat while it fits its budget)
    python -m bench --quick            # N = 100, 1k: a minute
    python -m bench --sizes 1000,5000  # any sizes

It starts two redis-servers of its own on free 127.0.0.1 ports (the schedule server and the
Celery broker), prints one table (measure | N | beatcore | RedBeat | ratio), checks the budgets
of issues 6 and 17, and writes ``bench/results.json`` and the chart ``bench/results.png``.

How both sides are driven (the same way)
----------------------------------------
Each side's scheduler class is constructed in-process with a Celery app, exactly as celery
beat constructs it (``redbeat.RedBeatScheduler`` with ``redbeat_redis_url``,
``beatcore.Scheduler`` with ``beatcore_url``), and its ``tick()`` is called in a loop. Every
(side, N, scenario) runs in a fresh process (:mod:`bench.worker`), so the RSS figures are the
scheduler's own. The entries are hourly (``celery.schedules.schedule(1 h)`` in
``beat_schedule``, ``Interval(1 h)`` or RedBeat's entry for dynamic ones), all for one
unregistered task, no args. Nothing comes due by itself; entries are made due outside the timed
part: RedBeat by ``entry.reschedule(last_run_at=now - 2 h)`` (so its hourly schedule is
overdue), beatcore by ``store.trigger(name)``. Both loggers stay at WARNING. Both lock TTLs
are 900 s (:data:`bench.sides.LOCK_TTL`), so the untimed setup between ticks cannot let a
lease lapse.

- *store*: N entries saved one by one through the public API (RedBeat
  ``RedBeatSchedulerEntry(...).save()``, beatcore ``beatcore.connect(url).save(Entry(...))``).
- *startup cold / warm*: the scheduler's constructor with N static entries in
  ``beat_schedule``, on an empty schedule server / with the same entries already stored.
  Taking the lock is not part of it (RedBeat does that in ``beat_init``, beatcore in its first
  tick).
- *idle tick*: one ``tick()`` by the leader with N entries stored and none due. Its round
  trips and server commands come from the side's ``ticks`` worker (20 ticks after one
  warm-up). Its **time** comes from a measurement of its own, after both sides' scenarios at
  that N (:mod:`bench.idle_pair`): both sides' stores prepared at once (beatcore in database
  0, RedBeat in database 1 of the schedule server), both schedulers in one process, their
  idle ticks interleaved (``--idle-rounds`` rounds of beatcore, RedBeat / RedBeat, beatcore,
  a ``--idle-pause`` after each), so both are timed in the same minute against the same
  redis-server process. On a small VM the round trip's latency moves from minute to minute;
  two series taken minutes apart, each side in its own worker, compared those regimes, not
  the ticks. Reported: each side's median, p10 and p90, and the ratio of each round's two
  ticks (:mod:`bench.interleave`).
- *tick, 1% due*: ticks until the N/100 due entries are sent.
- *catch-up tick* (beatcore only, the same at every N): five 1-second entries after three hours
  without a leader, the one tick that catches up, publishing excluded; with the WARNING lines
  it logs and the calls the skip listener hooks get (:mod:`bench.catch_up`).
- *dispatch*: ticks until all N due entries are sent (beatcore claims at most
  ``beatcore_batch_size`` = 1000 per tick, so it takes N/1000 ticks; RedBeat sends all in one).
- *the reference tree*: at each N up to 10k, issue 17's tree (``ca0c221``; ``--reference``)
  runs its own ``store`` and ``ticks`` scenarios on the same servers right after both sides,
  so "3x today" is a ratio within the run (:mod:`bench.reference`).

Publishing excluded
-------------------
Both schedulers send the (unregistered) task through ``celery.beat.Scheduler.send_task``:
beatcore from its publisher (``beatcore.publisher.Publisher``) after claiming, RedBeat from
``celery.beat.Scheduler.apply_async`` right after its ``reserve`` has written the new
``last_run_at``. For "publishing excluded" that one method is replaced, on the scheduler
instance, by a function that counts the call and returns an object with the task id
(:func:`bench.sides.exclude_publishing`). Everything else runs: claiming/loading, due checks,
argument and header preparation, the scheduler's producer (created once, before timing), the
bookkeeping writes. With *real publishing* the original method runs and publishes to the second
redis-server (the broker); the harness checks that the broker's queue then holds N messages.

What is counted
---------------
See :mod:`bench.measure`: time is the median over repeats; round trips are counted in the
benchmark process at the redis-py connection (``send_packed_command``: a pipeline or a script
call is one), for the schedule server (the broker's separately); server commands are the
``INFO commandstats`` delta of the schedule server (commands run inside Lua scripts included);
Redis memory per entry is the ``used_memory`` delta after storing N entries, divided by N.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.interleave import PAUSE, ROUNDS
from bench.processes import run_idle_pair, run_worker
from bench.reference import REFERENCE, REFERENCE_MAX_N, record_reference
from bench.servers import RedisServer

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000)
SCENARIOS = ("store", "ticks", "startup", "catchup")
#: Scenarios only one side runs (RedBeat has no catch-up policy to measure).
ONLY = {"catchup": "beatcore"}
SIDES = ("beatcore", "redbeat")


def default_repeats(n: int) -> int:
    """Repeats of each timed operation at size ``n`` (fewer for the slow large sizes)."""
    if n <= 1_000:
        return 5
    if n <= 10_000:
        return 3
    return 1


def machine() -> dict[str, Any]:
    """Return the machine and the versions the run used."""
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "commit": commit,
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "celery": version("celery"),
        "kombu": version("kombu"),
        "redis-py": version("redis"),
        "celery-redbeat": version("celery-redbeat"),
        "beatcore": version("beatcore"),
    }


def run(
    sizes: Sequence[int],
    sides: Sequence[str],
    *,
    repeats: int | None,
    idle_repeats: int,
    redbeat_budget: float,
    catch_up_down: float | None = None,
    idle_rounds: int = ROUNDS,
    idle_pause: float = PAUSE,
    reference: str = REFERENCE,
    log: Any = sys.stderr,
) -> dict[str, Any]:
    """Run every scenario for every side and size; then at each size the ``reference`` tree's
    dispatch (up to :data:`~bench.reference.REFERENCE_MAX_N`; ``""`` for none) and, where both
    sides ran, their interleaved idle ticks (``idle_rounds`` rounds, 0 for none); return the
    results document.
    """
    results: dict[str, dict[str, Any]] = {side: {} for side in sides}
    interleaved: dict[str, dict[str, Any]] = {}
    skipped: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    wall: dict[str, dict[int, float]] = {side: {} for side in sides}
    reference_run: dict[str, Any] = {"revision": reference, "results": {}} if reference else {}
    started = time.monotonic()
    with RedisServer("schedule") as schedule, RedisServer("broker") as broker:
        redis_version = schedule.version()
        admin = schedule.client()
        for n in sizes:
            reps = repeats or default_repeats(n)
            for side in sides:
                if side == "redbeat" and wall[side]:
                    last_n = max(wall[side])
                    estimate = (
                        wall[side][last_n]
                        * (n / last_n)
                        * (reps / (repeats or default_repeats(last_n)))
                    )
                    if estimate > redbeat_budget:
                        print(
                            f"[bench] redbeat N={n}: skipped, estimated {estimate:.0f}s "
                            f"> budget {redbeat_budget:.0f}s",
                            file=log,
                        )
                        skipped[side].append({"n": n, "estimated_seconds": round(estimate)})
                        continue
                t0 = time.monotonic()
                admin.flushall()
                merged: dict[str, Any] = {}
                for scenario in SCENARIOS:
                    if ONLY.get(scenario, side) != side:
                        continue
                    print(f"[bench] {side} N={n} {scenario} (x{reps}) ...", file=log, flush=True)
                    t1 = time.monotonic()
                    merged.update(
                        run_worker(
                            side, scenario, n, reps, idle_repeats, schedule, broker, catch_up_down
                        )
                    )
                    print(f"[bench]   done in {time.monotonic() - t1:.1f}s", file=log, flush=True)
                admin.flushall()
                wall[side][n] = time.monotonic() - t0
                merged["wall_seconds"] = round(wall[side][n], 1)
                results[side][str(n)] = merged
            if reference and n <= REFERENCE_MAX_N and "unavailable" not in reference_run:
                record_reference(reference_run, n, reps, idle_repeats, schedule, broker, log)
            if idle_rounds and all(str(n) in results.get(side, {}) for side in SIDES):
                print(f"[bench] idle ticks interleaved N={n} (x{idle_rounds}) ...", file=log)
                t1 = time.monotonic()
                admin.flushall()
                pair = run_idle_pair(n, idle_rounds, idle_pause, schedule, broker)
                admin.flushall()
                print(f"[bench]   done in {time.monotonic() - t1:.1f}s", file=log, flush=True)
                for side, figures in pair.pop("sides").items():
                    results[side][str(n)]["tick_idle_interleaved"] = figures
                interleaved[str(n)] = pair
        admin.close()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(), "redis-server": redis_version},
        "sizes": list(sizes),
        "total_seconds": round(time.monotonic() - started, 1),
        "results": results,
        "idle_interleaved": interleaved,
        "skipped": skipped,
        "reference": reference_run,
    }


def parse_sizes(text: str) -> list[int]:
    """The N of a ``--sizes`` option: comma-separated integers."""
    return [int(x) for x in text.split(",") if x.strip()]


def add_size_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every side-by-side benchmark takes: ``--sizes``, ``--quick``,
    ``--repeats`` and ``--idle-repeats`` (``python -m bench`` and ``python -m bench.sql``)."""
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        help="comma-separated N (default 1000,10000,100000; --quick: 100,1000)",
    )
    parser.add_argument("--quick", action="store_true", help="small N and fewer repeats")
    parser.add_argument("--repeats", type=int, help="repeats per timed operation (default by N)")
    parser.add_argument("--idle-repeats", type=int, default=20, help="idle ticks timed")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="beatcore and RedBeat side by side on the same redis-server.",
    )
    add_size_options(parser)
    parser.add_argument(
        "--idle-rounds",
        type=int,
        default=ROUNDS,
        help=f"rounds of interleaved idle ticks, both sides (default {ROUNDS}; 0: none)",
    )
    parser.add_argument(
        "--idle-pause",
        type=float,
        default=PAUSE,
        help=f"seconds after each interleaved round (default {PAUSE})",
    )
    parser.add_argument("--sides", default=",".join(SIDES), help="beatcore,redbeat")
    parser.add_argument(
        "--redbeat-budget",
        type=float,
        default=300.0,
        help="skip RedBeat at an N whose estimated wall time exceeds this many seconds",
    )
    parser.add_argument("--out-dir", type=Path, default=BENCH_DIR, help="results.json, PNG")
    parser.add_argument("--no-chart", action="store_true", help="do not draw the PNG")
    parser.add_argument(
        "--results-md",
        type=Path,
        help="also write the run as the 'redbeat' section of this file (bench/RESULTS.md)",
    )
    parser.add_argument(
        "--catch-up-down",
        type=float,
        help="seconds beat was down before the catch-up tick (default 3 hours)",
    )
    parser.add_argument(
        "--reference",
        default=REFERENCE,
        help=f"commit whose dispatch is measured beside beatcore's at N <= {REFERENCE_MAX_N:,} "
        f"(default {REFERENCE}, the tree issue 17 measured; '' for none)",
    )
    args = parser.parse_args(argv)

    sizes = args.sizes or (list(QUICK_SIZES) if args.quick else list(DEFAULT_SIZES))
    if any(n < 1 for n in sizes):
        parser.error(f"--sizes must be positive integers, got {sizes}")
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = set(sides) - set(SIDES)
    if unknown or not sides:
        parser.error(f"--sides must name beatcore and/or redbeat, got {args.sides!r}")
    repeats = args.repeats or (3 if args.quick else None)
    idle_repeats = min(args.idle_repeats, 10) if args.quick else args.idle_repeats
    idle_rounds = min(args.idle_rounds, 100) if args.quick else args.idle_rounds
    if idle_rounds < 0 or args.idle_pause < 0:
        parser.error(
            f"--idle-rounds and --idle-pause must not be negative, got {args.idle_rounds} "
            f"and {args.idle_pause}"
        )

    from bench.report import budget_lines, budgets, table

    document = run(
        sizes,
        sides,
        repeats=repeats,
        idle_repeats=idle_repeats,
        redbeat_budget=args.redbeat_budget,
        catch_up_down=args.catch_up_down,
        idle_rounds=idle_rounds,
        idle_pause=args.idle_pause,
        reference=args.reference,
    )
    document["budgets"] = budgets(document)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "results.json").write_text(json.dumps(document, indent=1) + "\n")
    print(table(document))
    print()
    print(budget_lines(document["budgets"]))
    if not args.no_chart:
        from bench.chart import draw

        path = draw(document, args.out_dir / "results.png")
        print(f"\nchart: {path}")
    print(f"results: {args.out_dir / 'results.json'}")
    if args.results_md is not None:
        from bench.report import SECTION, markdown
        from bench.results_md import write_section

        write_section(args.results_md, SECTION, markdown(document))
        print(f"section {SECTION!r} of {args.results_md} rewritten")
    return 0
