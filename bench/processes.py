"""Each measurement of :mod:`bench.run` in a fresh process, so its RSS and caches are its own.

:func:`run_worker` runs one scenario of one side (:mod:`bench.worker`), :func:`run_idle_pair`
both sides' interleaved idle ticks at one N (:mod:`bench.idle_pair`), :func:`run_module` any
such module, also another source tree's; each returns the JSON the process wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.servers import RedisServer

BENCH_DIR = Path(__file__).resolve().parent
#: Seconds one scenario process may take before the run is abandoned.
WORKER_TIMEOUT = 3600.0


def run_module(
    module: str,
    options: dict[str, object],
    schedule: RedisServer,
    broker: RedisServer,
    label: str,
    *,
    tree: Path | None = None,
) -> dict[str, Any]:
    """Run ``python -m MODULE --OPTION VALUE ... --schedule-port P --broker-port B --out FILE``
    in a fresh process; return the JSON it wrote.

    The module is this checkout's, or with ``tree`` that source tree's: run from its root with
    its root, ``src`` and each ``plugins/*/src`` first on the path (:mod:`bench.reference`).

    :raises RuntimeError: the process failed or timed out (its stderr is in the message).
    """
    arguments = [part for name, value in options.items() for part in (f"--{name}", str(value))]
    arguments += ["--schedule-port", str(schedule.port), "--broker-port", str(broker.port)]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", module, *arguments, "--out", str(out)]
        env = dict(os.environ)
        if tree is None:
            first = [str(BENCH_DIR.parent)]
        else:
            first = [str(tree), str(tree / "src"), *map(str, sorted(tree.glob("plugins/*/src")))]
        env["PYTHONPATH"] = os.pathsep.join(p for p in (*first, env.get("PYTHONPATH", "")) if p)
        try:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                cwd=tree,
                check=False,
                timeout=WORKER_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{label} did not finish within {WORKER_TIMEOUT:.0f} s") from exc
        if proc.returncode != 0:
            raise RuntimeError(f"{label} failed (exit {proc.returncode}):\n" + proc.stderr[-4000:])
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def run_worker(
    side: str,
    scenario: str,
    n: int,
    repeats: int,
    idle_repeats: int,
    schedule: RedisServer,
    broker: RedisServer,
    catch_up_down: float | None = None,
) -> dict[str, Any]:
    """Run one scenario in a fresh process (:mod:`bench.worker`) and return its figures.

    :raises RuntimeError: the worker failed (its stderr is in the message).
    """
    options: dict[str, object] = {
        "side": side,
        "scenario": scenario,
        "n": n,
        "repeats": repeats,
        "idle-repeats": idle_repeats,
    }
    if catch_up_down is not None:
        options["catch-up-down"] = catch_up_down
    return run_module("bench.worker", options, schedule, broker, f"{side} {scenario} at N={n}")


def run_idle_pair(
    n: int, rounds: int, pause: float, schedule: RedisServer, broker: RedisServer
) -> dict[str, Any]:
    """Measure both sides' idle ticks at ``n`` interleaved, in a fresh process
    (:mod:`bench.idle_pair`, on a flushed schedule server); return its figures."""
    options: dict[str, object] = {"n": n, "rounds": rounds, "pause": pause}
    label = f"interleaved idle ticks at N={n}"
    return run_module("bench.idle_pair", options, schedule, broker, label)
