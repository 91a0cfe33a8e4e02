"""``python -m bench.status``: how long the health check takes, as a probe runs it.

Times ``celery -A APP beatcore status`` and ``beatcore -A APP status`` (the lighter console
script) as separate processes against a SQLite store with a few entries and a recent tick,
and prints the fastest wall time and the least CPU time (user + system of the process) of
``--repeats`` runs of each. CPU time moves less than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

APP = textwrap.dedent(
    """
    from celery import Celery

    app = Celery("statusbench", broker="memory://")
    app.conf.beatcore_url = "sqlite:///{path}"
    app.conf.beatcore_lock_ttl = 86400  # the tick written by prepare() stays recent
    """
)


def prepare(folder: Path, entries: int) -> None:
    """Write the app module and a store with ``entries`` entries and one tick just now."""
    import beatcore
    from beatcore import Entry, Interval

    (folder / "statusbench.py").write_text(APP.format(path=folder / "store.sqlite3"))
    store = beatcore.connect(f"sqlite:///{folder / 'store.sqlite3'}")
    try:  # not ``with``: the bench also measures releases whose Store had no __enter__
        for i in range(entries):
            store.save(Entry(name=f"entry-{i:04d}", task="bench.noop", schedule=Interval(3600)))
        lease = store.lock.acquire("bench:1:start", 3600)
        assert lease is not None
        store.claim_due(lease, beatcore.timeutil.utc_now(), limit=1, reclaim_after=30)
    finally:
        store.close()


def timed(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """Run ``command`` once; return its wall seconds, CPU seconds and exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def measure(repeats: int, entries: int) -> dict[str, Any]:
    """Return the fastest wall and least CPU time of each form of the health check."""
    bindir = Path(sys.executable).parent
    forms = {
        "celery -A APP beatcore status": [str(bindir / "celery"), "-A", "statusbench",
                                          "beatcore", "status"],
        "beatcore -A APP status": [str(bindir / "beatcore"), "-A", "statusbench", "status"],
    }  # fmt: skip
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare(folder, entries)
        runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in forms}
        for _ in range(repeats):
            for name, command in forms.items():  # interleaved: the same load for both
                runs[name].append(timed(command, folder))
        for name, samples in runs.items():
            results[name] = {
                "wall_s": round(min(s[0] for s in samples), 3),
                "cpu_s": round(min(s[1] for s in samples), 3),
                "exit_codes": sorted({s[2] for s in samples}),
            }
    return {"repeats": repeats, "entries": entries, "load": os.getloadavg()[0], **results}


def main(argv: list[str] | None = None) -> int:
    """Print the measurement as JSON; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.status", description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--entries", type=int, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.repeats, args.entries), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
