"""A million entries on one Redis (issue 17): what grows with N and what must not.

``python -m bench.million --sizes 10000,1000000`` (slow at 1M: minutes) stores N dynamic
entries with ``save_many`` on a redis-server of its own (127.0.0.1, a free port), in database 0
(empty at each N), and, at each N, measures:

- *save_many*: seconds, round trips per 1,000 entries;
- *Redis memory per entry*: the ``used_memory`` growth / N, and ``MEMORY USAGE`` of each key;
- *idle tick*: the leader's ``tick()`` with nothing due, 20 ticks after one warm-up: round
  trips and server commands (``idle_tick_round_trips``, ``idle_tick_commands``); their time as
  ``idle_tick_ms_alone`` (that series alone, not comparable with another N's);
- *warm start*: ``beatcore.Scheduler(app)`` with 100 static entries already stored, beside
  the N dynamic ones: seconds, round trips;
- *status*: ``Store.status()`` in the process (seconds, round trips);
- *CLI*: ``beatcore -A APP status --json``, ``list`` and ``export`` each as a process of its
  own (wall and CPU seconds, exit code, peak RSS), started through a small launcher so the
  peak is the command's own (see ``_LAUNCHER``).

After each N its keys are moved to a database of their own (``MOVE``: the first N's to 1,
the next to 2, ...), so every figure above is taken on database 0, as before, and every N's
store is in place at the end. Then the **idle ticks interleaved**
(:mod:`bench.million_idle`): one leader per N in this process, their ticks alternated round by
round against the same server, so the time of the largest N's tick and the smallest's are
taken in the same minute (``idle_tick_ms`` is that median, with ``idle_tick_ms_p10`` and
``_p90``; ``idle_tick_paired_ratio`` the median per-round ratio smallest N ÷ this N).

It prints one table (measure | N ...) and the interleaved comparison, and writes
``bench/million.json``. The suite runs it at N = 50 and 200
(``tests/bench/test_million_smoke.py``) and checks the counts that must not grow with N.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

import beatcore
from beatcore import Entry, Interval
from bench.interleave import PAUSE, ROUNDS
from bench.measure import Probe, RoundTripCounter, memory_by_key, used_memory
from bench.million_idle import idle_text, interleaved_idle, million_app
from bench.run import parse_sizes
from bench.servers import RedisServer
from bench.sides import PERIOD, TASK, entry_names

BENCH_DIR = Path(__file__).resolve().parent
BATCH = 10_000
IDLE_TICKS = 20
#: Warm starts timed at each N (the median is reported: one start is a few milliseconds, and
#: a single one once read 28 ms at 1M against 6-8 ms for seven in a row).
WARM_STARTS = 5
#: The databases of a redis-server: one per size.
DATABASES = 16

_APP = """
from celery import Celery
app = Celery("million", set_as_current=False)
app.conf.beatcore_url = {url!r}
"""


def _store_all(url: str, n: int, probe: Probe) -> dict[str, Any]:
    """Store ``n`` entries at ``url`` (the probe's database) in batches; return the rate,
    round trips per 1,000 and the Redis memory they take."""
    store = beatcore.connect(url)
    names = entry_names(n)
    before = used_memory(probe.server)
    seconds, trips = 0.0, 0
    for first in range(0, n, BATCH):
        batch = [Entry(name=name, task=TASK, schedule=Interval(PERIOD)) for name in
                 names[first : first + BATCH]]  # fmt: skip
        with probe.run() as sample:
            report = store.save_many(batch)
        if report.refused or len(report.states) != len(batch):
            raise RuntimeError(f"save_many saved {len(report.states)} of {len(batch)}")
        seconds += sample.seconds
        trips += sample.round_trips
    store.close()
    grown = used_memory(probe.server) - before
    return {
        "save_many_seconds": seconds,
        "save_many_per_s": n / seconds,
        "save_many_round_trips_per_1000": trips * 1000 / n,
        "memory_per_entry": grown / n,
        "memory_by_key": memory_by_key(probe.server, n),
    }


def _move_keys(client: redis.Redis, db: int) -> None:
    """Move every key of ``client``'s database to the empty database ``db`` (one ``MOVE``
    per key: beatcore's store is a handful of keys whatever N).

    :raises RuntimeError: a key could not be moved (``db`` was not empty).
    """
    for key in list(client.scan_iter(count=1000)):
        if not client.move(key, db):
            raise RuntimeError(f"could not move {key!r} to database {db}")


def _ticks_and_start(url: str, probe: Probe) -> dict[str, Any]:
    """The warm start beside the N dynamic entries (the median and the slowest of
    :data:`WARM_STARTS`; the most round trips any took) and 20 idle ticks' counts (one
    leader)."""
    first = beatcore.Scheduler(million_app(url))  # cold: stores the static entries
    first.close()
    starts = []
    for _ in range(WARM_STARTS):
        with probe.run() as start:
            scheduler = beatcore.Scheduler(million_app(url))
        starts.append(start)
        scheduler.close()
    scheduler = beatcore.Scheduler(million_app(url))
    scheduler.tick()  # takes the lock
    idle = []
    for _ in range(IDLE_TICKS + 1):
        with probe.run() as sample:
            scheduler.tick()
        idle.append(sample)
    idle = idle[1:]
    scheduler.close()
    return {
        "warm_start_seconds": statistics.median(s.seconds for s in starts),
        "warm_start_seconds_max": max(s.seconds for s in starts),
        "warm_start_round_trips": max(s.round_trips for s in starts),
        "idle_tick_ms_alone": 1000 * statistics.median(s.seconds for s in idle),
        "idle_tick_round_trips": statistics.median(s.round_trips for s in idle),
        "idle_tick_commands": statistics.median(s.commands for s in idle),
    }


#: Runs a command and prints its exit code, peak RSS (kB) and CPU seconds. The benchmark
#: starts each CLI command through it: a child's ``ru_maxrss`` starts from the RSS of the
#: process that forked it (Linux keeps the old image's high-water mark at exec), and this
#: process holds N entries' worth of memory, which made status look like 134 MB at 1M.
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""
#: The CLI verbs measured as processes of their own: name -> arguments after ``-A APP``.
CLI_VERBS = {"status": ["status", "--json"], "list": ["list"], "export": ["export"]}


def _cli(directory: str, arguments: list[str]) -> dict[str, Any]:
    """Run ``beatcore -A millionapp ARGUMENTS`` in ``directory``; return its wall seconds,
    CPU seconds, exit code and peak RSS (MB), stdout thrown away."""
    env = {**os.environ, "PYTHONPATH": directory}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, "beatcore", "-A", "millionapp", *arguments],
        cwd=directory, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    code, peak_kb, cpu = done.stdout.split()
    return {"seconds": wall, "cpu_seconds": float(cpu), "exit": int(code),
            "peak_rss_mb": int(peak_kb) / 1024}  # fmt: skip


def _status(url: str, probe: Probe) -> dict[str, Any]:
    store = beatcore.connect(url)
    with probe.run() as sample:
        snapshot = store.status()
    store.close()
    figures: dict[str, Any] = {
        "status_seconds": sample.seconds,
        "status_round_trips": sample.round_trips,
        "status_entry_count": snapshot.entry_count,
    }
    with tempfile.TemporaryDirectory(prefix="million-") as tmp:
        Path(tmp, "millionapp.py").write_text(_APP.format(url=url))
        for verb, arguments in CLI_VERBS.items():
            measured = _cli(tmp, arguments)
            figures.update({f"{verb}_cli_{key}": value for key, value in measured.items()})
    return figures


def run(
    sizes: Sequence[int], rounds: int = ROUNDS, pause: float = PAUSE, log: Any = sys.stderr
) -> dict[str, Any]:
    """Measure every size, each in its own database of one fresh server, then their idle
    ticks interleaved (``rounds`` rounds, 0 for none); return the results document.

    :raises ValueError: more sizes than the server has databases (16), or one twice.
    """
    if len(sizes) >= DATABASES or len(set(sizes)) != len(sizes):
        raise ValueError(f"need fewer than {DATABASES} distinct sizes, got {list(sizes)}")
    counter = RoundTripCounter().install()
    results: dict[str, dict[str, Any]] = {}
    document: dict[str, Any] = {"results": results}
    with RedisServer("million") as server:
        admin = server.client()
        probe = Probe(counter, admin, server.port)
        admin.flushall()
        url = f"redis://127.0.0.1:{server.port}/0"
        urls: dict[int, str] = {}
        for db, n in enumerate(sizes, start=1):
            print(f"[million] N={n:,}: storing ...", file=log, flush=True)
            figures = _store_all(url, n, probe)
            print(f"[million] N={n:,}: ticks, warm start, status ...", file=log, flush=True)
            figures.update(_ticks_and_start(url, probe))
            figures.update(_status(url, probe))
            results[str(n)] = figures
            _move_keys(admin, db)
            urls[n] = f"redis://127.0.0.1:{server.port}/{db}"
        if rounds and len(sizes) > 1:
            print(f"[million] idle ticks interleaved (x{rounds}) ...", file=log, flush=True)
            document["idle_interleaved"] = interleaved_idle(urls, probe, rounds, pause)
            for n, figures in document["idle_interleaved"]["sizes"].items():
                results[n].update(figures)
        admin.flushall()
        admin.close()
    document["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return document


def table(document: dict[str, Any]) -> str:
    """The figures as a Markdown table, one column per N."""
    sizes = list(document["results"])
    rows = sorted({key for figures in document["results"].values() for key in figures})
    lines = ["| measure | " + " | ".join(f"N={int(n):,}" for n in sizes) + " |",
             "| --- |" + " ---: |" * len(sizes)]  # fmt: skip
    for key in rows:
        cells = []
        for n in sizes:
            value = document["results"][n].get(key)
            if isinstance(value, dict):
                cells.append(", ".join(f"{k} {v:g}" for k, v in value.items()))
            elif isinstance(value, float):
                cells.append(f"{value:,.4g}")
            else:
                cells.append(f"{value:,}" if isinstance(value, int) else str(value))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m bench.million``."""
    parser = argparse.ArgumentParser(prog="python -m bench.million", description=__doc__)
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=[10_000, 1_000_000],
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "million.json")
    parser.add_argument(
        "--results-md", type=Path, help="also write the 'million' section of this file"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help=f"rounds of interleaved idle ticks (default {ROUNDS}; 0: none)",
    )
    parser.add_argument(
        "--pause", type=float, default=PAUSE, help=f"seconds after each round (default {PAUSE})"
    )
    args = parser.parse_args(argv)
    if args.rounds < 0 or args.pause < 0 or any(n < 1 for n in args.sizes):
        parser.error(
            f"--sizes must be positive, --rounds and --pause not negative: {args.sizes}, "
            f"{args.rounds}, {args.pause}"
        )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    document = run(args.sizes, args.rounds, args.pause)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    body = f"{table(document)}\n\n{idle_text(document)}"
    print(body)
    if args.results_md is not None:
        from bench.results_md import write_section

        body = f"`python -m bench.million`, finished {document['date']}.\n\n{body}"
        write_section(args.results_md, "million", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
