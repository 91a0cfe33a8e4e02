"""From a change to a sleeping beat seeing it: a real ``celery beat`` process, a real broker.

With N hourly entries stored (none due), one ``celery -A beatbench_app beat -S SCHEDULER``
process runs with ``beat_max_loop_interval`` at its default (beatcore 5 s; django-celery-beat
5 s as well, its own default for ``DatabaseScheduler``). Another process (this one) then
changes one entry at a time so that it is due now, through each side's public way of changing
a schedule: beatcore ``store.trigger(name)``, django-celery-beat a ``PeriodicTask`` saved
through its model with ``last_run_at`` two hours back (its ``post_save`` signal marks the
schedule changed, as the admin does). The figure is the time from the start of that call to
the entry's task arriving in the broker's queue (``BLPOP``): the change committed, seen by
beat, claimed or reloaded, and published. Changes are a random 0-5 s apart (seeded), so they
fall at every phase of beat's sleep.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

from bench.sides import PERIOD, entry_names
from bench.sql_sides import DjangoSide, SqlSide

#: Seconds beat gets to start and send the first change (django-celery-beat reads every row
#: first, which at 100k entries takes a while on a loaded machine).
READY_TIMEOUT = 900.0
#: Seconds one change may take to reach the broker before the run is abandoned.
CHANGE_TIMEOUT = 300.0
#: Seconds the changes of one run may take in all before it stops (at least three are made).
RUN_BUDGET = 120.0
_SEED = 18
#: The largest N at which django-celery-beat's latency is measured: each change makes it
#: reload every row, which at 10k entries made one run of ten changes take nine minutes on the
#: loaded 2-core machine, so at 100k it would take hours.
DJANGO_MAX = 10_000
#: Seconds between two changes at most (random, seeded): both schedulers' default
#: ``beat_max_loop_interval``, so the changes fall at every phase of beat's sleep.
PHASE = 5.0

_APP = '''\
"""The Celery app of the latency benchmark's beat process (bench/sql_latency.py)."""

import os

from celery import Celery

if os.environ["BEATBENCH_SIDE"] == "django":
    import django

    django.setup()

app = Celery("beatbench", broker=os.environ["BEATBENCH_BROKER"])
app.conf.update(timezone="UTC", enable_utc=True, broker_connection_retry_on_startup=True)
if os.environ["BEATBENCH_SIDE"] != "django":
    app.conf.beatcore_url = os.environ["BEATBENCH_SCHEDULE"]
'''

SCHEDULERS = {
    "postgres": "beatcore.Scheduler",
    "redis": "beatcore.Scheduler",
    "django": "django_celery_beat.schedulers:DatabaseScheduler",
}


def _change(side: SqlSide, name: str) -> None:
    """Make ``name`` due now through the side's public API (see the module docstring)."""
    if isinstance(side, DjangoSide):
        from django_celery_beat.models import PeriodicTask  # type: ignore[import-untyped]

        task = PeriodicTask.objects.get(name=name)
        task.last_run_at = time_now() - 2 * PERIOD
        task.save()
    else:
        side.store.trigger(name)


def time_now() -> Any:
    """The aware UTC now (django-celery-beat stores aware instants with ``USE_TZ``)."""
    from beatcore.timeutil import utc_now

    return utc_now()


class Beat:
    """One ``celery beat`` process of a side, its output in a log file."""

    def __init__(self, side: SqlSide, directory: Path, env: Mapping[str, str]) -> None:
        (directory / "beatbench_app.py").write_text(_APP)
        self.log = directory / "beat.log"
        root = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(p for p in (str(directory), root, env.get("PYTHONPATH", "")) if p)
        full = {
            **env,
            "PYTHONPATH": path,
            "BEATBENCH_SIDE": side.name,
            "BEATBENCH_BROKER": side.broker_url,
            "BEATBENCH_SCHEDULE": side.schedule_url,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "beatbench_app", "beat",
            "-S", SCHEDULERS[side.name], "--loglevel", "WARNING",
            "--schedule", str(directory / "celerybeat-schedule"),
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, cwd=directory, env=full, stdout=out, stderr=subprocess.STDOUT
            )

    def check(self) -> None:
        """:raises RuntimeError: the process ended (with its log)."""
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"celery beat exited with {self.proc.returncode}:\n"
                + self.log.read_text(errors="replace")[-3000:]
            )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)


def _arrival(broker: redis.Redis, beat: Beat, timeout: float) -> float:
    """Wait for one message in the broker's queue; return the instant (perf_counter)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beat.check()
        if broker.blpop(["celery"], timeout=0.05) is not None:
            return time.perf_counter()
    raise RuntimeError(f"no message reached the broker within {timeout:.0f} s of a change")


def scenario_latency(
    side: SqlSide, n: int, changes: int, broker: redis.Redis, env: Mapping[str, str]
) -> dict[str, Any]:
    """Return the change-to-broker latencies of ``changes`` changes with N entries stored
    (django-celery-beat's only up to :data:`DJANGO_MAX`)."""
    if isinstance(side, DjangoSide) and n > DJANGO_MAX:
        return {"latency_skipped": {"n": n, "largest_n": DJANGO_MAX}}
    names = entry_names(n)
    side.reset()
    side.store_many(names)
    broker.flushdb()
    rng = random.Random(_SEED)
    picks = rng.sample(range(n), min(n, changes + 1))
    seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="beatbench-beat-") as tmp:
        beat = Beat(side, Path(tmp), env)
        try:
            started = time.perf_counter()
            _change(side, names[picks[0]])  # the first one also waits for beat to be up
            _arrival(broker, beat, READY_TIMEOUT)
            ready = time.perf_counter() - started
            run_start = time.perf_counter()
            for index in picks[1:]:
                if len(seconds) >= 3 and time.perf_counter() - run_start > RUN_BUDGET:
                    break
                time.sleep(rng.uniform(0.0, PHASE))
                broker.delete("celery")
                start = time.perf_counter()
                _change(side, names[index])
                seconds.append(_arrival(broker, beat, CHANGE_TIMEOUT) - start)
        finally:
            beat.stop()
    return {
        "latency": {
            "n": n,
            "changes": len(seconds),
            "median": statistics.median(seconds),
            "max": max(seconds),
            "min": min(seconds),
            "seconds_all": [round(s, 4) for s in seconds],
            "first_change_seconds": round(ready, 2),
        }
    }
