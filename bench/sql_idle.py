"""Where an idle tick of beatcore's PostgreSQL store goes (``python -m bench.sql_idle``).

Issue 18's budget for a tick with nothing due is one round trip, flat in N and under 1 ms at
10k entries. This measures its parts on one server, in one process, N dynamic hourly entries
stored and none due:

- the whole ``Scheduler.tick()`` (wall median, and CPU time per tick: the Python path);
- ``store.claim_due`` alone (the same, without the scheduler around it);
- a bare ``SELECT 1`` on a connection of its own (the round trip's floor);
- the claim statement's execution on the server (``EXPLAIN ANALYZE`` of its generic plan,
  the plan the prepared statement runs), and how the store's connections ran it: prepared,
  with generic plans (no planning per tick) or custom ones (summed over the pool's
  connections).

Wall times mean something only on a quiet machine: the load average is printed beside them.
CPU times hold up better under load. Not part of ``python -m bench.sql``'s table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from celery import Celery
from tests.support.postgres_server import PostgresServer

import beatcore
from beatcore import Entry, Interval
from beatcore_postgres.lock import fenced_params
from beatcore_postgres.store import PostgresStore

#: Runs of each statement whose server execution is timed.
EXPLAINED = 50


def _timed(call: Callable[[], object], repeats: int) -> dict[str, float]:
    """Wall median and CPU per call of ``repeats`` calls of ``call``, in milliseconds."""
    walls = []
    cpu = time.process_time()
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        walls.append(time.perf_counter() - start)
    spent = time.process_time() - cpu
    return {
        "wall_median_ms": round(statistics.median(walls) * 1e3, 3),
        "cpu_ms": round(spent / repeats * 1e3, 3),
    }


def _server_side(store: PostgresStore, url: str, lease: Any) -> dict[str, Any]:
    """The claim's plans on the store's own connections and its generic plan's execution."""
    pool = store._db._pool
    generic = custom = 0
    # Prepared statements are per session, and the ticks may have run on any of the pool's
    # connections (it grows under load): every idle one is held at once and asked.
    with contextlib.ExitStack() as held:
        for _ in range(max(1, pool.get_stats().get("pool_available", 1))):
            conn = held.enter_context(pool.connection())
            for row in conn.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE %s",
                ("%claimed AS (%",),
            ):
                generic, custom = generic + row[0], custom + row[1]
    executions = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        for _ in range(EXPLAINED):
            now = store.clock()
            params = fenced_params(lease, tick_at=now)
            params.update(now=now, stale=now - timedelta(seconds=60), limit=1000)
            row = conn.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + store._sql.claim, params
            ).fetchone()
            assert row is not None
            executions.append(row[0][0]["Execution Time"])
    return {
        "claim_plans": (generic, custom),
        "claim_execution_median_ms": round(statistics.median(executions), 3),
        "claim_execution_min_ms": round(min(executions), 3),
    }


def measure(url: str, n: int, ticks: int) -> dict[str, Any]:
    """Store ``n`` entries (none due) in a fresh schema of ``url`` and time ``ticks`` idle
    ticks and their parts; returns the figures (milliseconds) and the load averages."""
    schema = f"idle_{os.getpid()}"
    store = beatcore.connect(url, schema=schema)
    assert isinstance(store, PostgresStore)
    app = Celery(set_as_current=False)
    app.conf.beatcore_url = url
    app.conf.beatcore_store_options = {"schema": schema}
    app.conf.beatcore_lock_ttl = 30
    try:
        store.save_many(
            Entry(name=f"e{i:07d}", task="bench.noop", schedule=Interval(3600)) for i in range(n)
        )
        scheduler = beatcore.Scheduler(app)
        scheduler.store.pushes_changes = False  # beat's wait between ticks is its sleep
        load_before = os.getloadavg()
        for _ in range(20):  # the lock, then psycopg prepares the claim on its 5th run
            scheduler.tick()
        if not scheduler.is_leader:
            raise RuntimeError("the scheduler did not take the lock")
        leader: Any = scheduler.store
        lease = scheduler.lease
        result: dict[str, Any] = {"n": n, "ticks": ticks}
        result["tick"] = _timed(scheduler.tick, ticks)
        result["claim_due"] = _timed(
            lambda: leader.claim_due(lease, leader.clock(), limit=1000, reclaim_after=60), ticks
        )
        with psycopg.connect(url, autocommit=True) as conn:
            result["select_1"] = _timed(lambda: conn.execute("SELECT 1").fetchall(), ticks)
        result["server"] = _server_side(leader, url, lease)
        result["load_average"] = {"before": load_before, "after": os.getloadavg()}
        scheduler.close()
        return result
    finally:
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def report(result: dict[str, Any]) -> str:
    """The figures of :func:`measure` as lines for a person."""
    server = result["server"]
    lines = [f"idle tick of the PostgreSQL store, N = {result['n']:,}, {result['ticks']} ticks"]
    for key, label in (("tick", "Scheduler.tick()"), ("claim_due", "store.claim_due"),
                       ("select_1", "SELECT 1 (round trip)")):  # fmt: skip
        figures = result[key]
        lines.append(
            f"  {label:24s} wall median {figures['wall_median_ms']:.3f} ms, "
            f"CPU {figures['cpu_ms']:.3f} ms"
        )
    lines.append(
        f"  claim on the server      execution median {server['claim_execution_median_ms']:.3f}"
        f" ms (min {server['claim_execution_min_ms']:.3f}), generic plan; the store's "
        f"connections ran it as (generic, custom) plans {server['claim_plans']}"
    )
    before, after = result["load_average"]["before"], result["load_average"]["after"]
    lines.append(f"  load average {before[0]:.2f} before, {after[0]:.2f} after (1 min)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Start a PostgreSQL server, measure, print; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.sql_idle", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="entries stored (default 10k)")
    parser.add_argument("--ticks", type=int, default=2_000, help="idle ticks timed")
    args = parser.parse_args(argv)
    server = PostgresServer()
    server.start()
    try:
        print(report(measure(server.url, args.n, args.ticks)))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
