"""beatcore's PostgreSQL store against django-celery-beat, on the same PostgreSQL server.

Run from the repository root::

    pip install -e ".[postgres,redis,bench]"
    python -m bench.sql                    # N = 1k, 10k, 100k
    python -m bench.sql --quick            # N = 100, 1k: a few minutes
    python -m bench.sql --results-md bench/RESULTS.md   # and rewrite its SQL section

It starts a PostgreSQL server of its own (``initdb`` in a temporary directory, a free
127.0.0.1 port; as the ``postgres`` user when run as root) and two redis-servers (the Redis
store's schedule server and the Celery broker). One database holds beatcore's store, another
a real Django project's, made in a temporary directory, its tables made by
django-celery-beat's own migrations. Three sides are compared in one run
(:mod:`bench.sql_sides`): beatcore on PostgreSQL, beatcore on Redis, and django-celery-beat's
``DatabaseScheduler``; each (side, N, scenario) runs in a fresh process
(:mod:`bench.sql_worker`).

django-celery-beat sends one entry per tick and compares its whole schedule at every tick,
so dispatching N due entries costs it O(N^2): each of its timed dispatch loops stops after
``--django-budget`` seconds (default 60), and its figure is the rate it reached by then (the
time to send all N is extrapolated from that rate and marked as such). Its startup with N
static entries is skipped at an N where the per-entry cost at the largest N measured before
(at first a probe at N = 100) says it would exceed the budget, and extrapolated from it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.support.postgres_server import PostgresServer, find_bindir

from bench.run import add_size_options, machine
from bench.servers import RedisServer
from bench.sql_sides import django_database, make_django_project

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000)
SIDES = ("postgres", "redis", "django")
#: The sides whose change-to-seen latency is measured by default (the Redis store pushes no
#: changes: it sees them at its next tick, up to beat_max_loop_interval later).
LATENCY_SIDES = ("postgres", "django")
WORKER_TIMEOUT = 3600.0
#: The N of django-celery-beat's first startup, when every size is larger: the others are
#: run or estimated from its per-entry cost.
STARTUP_PROBE = 100


def default_repeats(side: str, n: int) -> int:
    """Repeats of a timed operation (django-celery-beat's runs are long: one each)."""
    if side == "django":
        return 1
    if n <= 1_000:
        return 5
    if n <= 10_000:
        return 3
    return 1


def run_worker(
    side: str, scenario: str, n: int, options: dict[str, Any], env: dict[str, str]
) -> dict[str, Any]:
    """Run one scenario in a fresh process and return its figures.

    :raises RuntimeError: the worker failed (its stderr is in the message).
    """
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable, "-m", "bench.sql_worker", "--side", side, "--scenario", scenario,
            "--n", str(n), "--out", str(out),
        ]  # fmt: skip
        for key, value in options.items():
            if value is not None:
                command += [f"--{key.replace('_', '-')}", str(value)]
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, env=env, check=False,
                timeout=WORKER_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{side} {scenario} at N={n} did not finish in time") from exc
        if proc.returncode != 0:
            raise RuntimeError(
                f"{side} {scenario} at N={n} failed (exit {proc.returncode}):\n"
                + proc.stderr[-4000:]
            )
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _startup_estimate(done: dict[str, Any], n: int) -> dict[str, Any] | None:
    """django-celery-beat's startup at ``n`` from the largest N measured before, when it
    would exceed the budget (None: measure it)."""
    measured = [
        int(k)
        for k, v in done.items()
        if "startup_cold" in v and "estimated_from" not in v["startup_cold"]
    ]
    if not measured:
        return None
    last = max(measured)
    figures = done[str(last)]
    return {
        kind: {
            "n": n,
            "seconds": figures[kind]["seconds"] / last * n,
            "estimated_from": last,
            "round_trips": None,
        }
        for kind in ("startup_cold", "startup_warm")
    }


def run(
    sizes: Sequence[int],
    sides: Sequence[str],
    *,
    latency_sides: Sequence[str],
    repeats: int | None,
    idle_repeats: int,
    django_budget: float,
    changes: int,
    redis_max: int,
    log: Any = sys.stderr,
) -> dict[str, Any]:
    """Run every scenario for every side and size; return the results document."""
    results: dict[str, dict[str, Any]] = {side: {} for side in sides}
    started = time.monotonic()
    server = PostgresServer()
    server.start()
    try:
        with (
            RedisServer("schedule") as schedule,
            RedisServer("broker") as broker,
            tempfile.TemporaryDirectory(prefix="bench-django-") as project,
        ):
            beatcore_db = server.create_database("beatcore")
            django_db = server.create_database("django")
            database = django_database(
                server.host, server.port, server.user, server.password, django_db
            )
            base = dict(os.environ)
            base["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(ROOT), base.get("PYTHONPATH", "")) if p
            )
            django_env = {**base, **make_django_project(Path(project), database)}
            django_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (django_env["PYTHONPATH"], str(ROOT)) if p
            )
            common = {
                "postgres_url": server.url_for(beatcore_db),
                "redis_port": schedule.port,
                "broker_port": broker.port,
                "idle_repeats": idle_repeats,
            }
            if "django" in sides and min(sizes) > STARTUP_PROBE:
                # django-celery-beat's startup costs it about as much per entry at any N, and
                # a minute or more at 1k on a loaded machine: its per-entry cost at a small N
                # says whether the first size fits the budget.
                print(f"[bench.sql] django N={STARTUP_PROBE} startup (probe) ...", file=log)
                probe = run_worker(
                    "django", "startup", STARTUP_PROBE, {**common, "repeats": 1}, django_env
                )
                results["django"][str(STARTUP_PROBE)] = {**probe, "probe": True}
            for n in sizes:
                for side in sides:
                    if side == "redis" and n > redis_max:
                        print(f"[bench.sql] redis N={n}: skipped (--redis-max)", file=log)
                        continue
                    env = django_env if side == "django" else base
                    options = {
                        **common,
                        "repeats": repeats or default_repeats(side, n),
                        "budget": django_budget if side == "django" else None,
                        "changes": changes,
                    }
                    merged: dict[str, Any] = {}
                    scenarios = ["startup", "ticks"]
                    if side in latency_sides:
                        scenarios.append("latency")
                    for scenario in scenarios:
                        if scenario == "startup" and side == "django":
                            estimate = _startup_estimate(results[side], n)
                            if estimate and estimate["startup_cold"]["seconds"] > django_budget:
                                print(
                                    f"[bench.sql] django N={n} startup: skipped, estimated "
                                    f"{estimate['startup_cold']['seconds']:.0f}s > budget",
                                    file=log,
                                )
                                merged.update(estimate)
                                continue
                        print(f"[bench.sql] {side} N={n} {scenario} ...", file=log, flush=True)
                        t0 = time.monotonic()
                        merged.update(run_worker(side, scenario, n, options, env))
                        print(
                            f"[bench.sql]   done in {time.monotonic() - t0:.1f}s",
                            file=log,
                            flush=True,
                        )
                    results[side][str(n)] = merged
            versions = {**machine(), "redis-server": schedule.version()}
    finally:
        server.stop()
    versions.update(_versions())
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "machine": versions,
        "sizes": list(sizes),
        "django_budget": django_budget,
        "total_seconds": round(time.monotonic() - started, 1),
        "results": results,
    }


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for dist in ("django-celery-beat", "Django", "psycopg", "psycopg-pool"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    postgres = subprocess.run(
        [str(find_bindir() / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)": the third word
    words = postgres.stdout.split()
    found["postgresql"] = words[2] if len(words) > 2 else "unknown"
    return found


def _commit() -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m bench.sql``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.sql",
        description="beatcore's PostgreSQL store, its Redis store and django-celery-beat.",
    )
    add_size_options(parser)
    parser.add_argument("--sides", default=",".join(SIDES), help="postgres,redis,django")
    parser.add_argument(
        "--latency-sides", default=",".join(LATENCY_SIDES), help="sides whose latency is timed"
    )
    parser.add_argument("--changes", type=int, default=10, help="changes timed per latency run")
    parser.add_argument(
        "--django-budget",
        type=float,
        default=60.0,
        help="seconds one timed loop of django-celery-beat may take (then extrapolated)",
    )
    parser.add_argument(
        "--redis-max",
        type=int,
        default=10_000,
        help="largest N of the Redis store (its budget is at 10k)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "sql_results.json")
    parser.add_argument(
        "--results-md", type=Path, help="rewrite the SQL section of this RESULTS.md"
    )
    args = parser.parse_args(argv)

    sizes = args.sizes or (list(QUICK_SIZES) if args.quick else list(DEFAULT_SIZES))
    if any(n < 1 for n in sizes):
        parser.error(f"--sizes must be positive integers, got {sizes}")
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    latency = [s.strip() for s in args.latency_sides.split(",") if s.strip()]
    if not sides or set(sides + latency) - set(SIDES):
        parser.error(f"--sides and --latency-sides name {', '.join(SIDES)}")
    from bench.sql_report import budgets, markdown, table, write_section

    document = run(
        sizes,
        sides,
        latency_sides=[s for s in latency if s in sides],
        repeats=args.repeats or (2 if args.quick else None),
        idle_repeats=min(args.idle_repeats, 10) if args.quick else args.idle_repeats,
        django_budget=args.django_budget,
        changes=min(args.changes, 5) if args.quick else args.changes,
        redis_max=args.redis_max,
    )
    document["budgets"] = budgets(document)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(table(document))
    print()
    print("\n".join(line for line in document["budgets"]["lines"]))
    if args.results_md is not None:
        write_section(args.results_md, markdown(document))
        print(f"section written: {args.results_md}")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
