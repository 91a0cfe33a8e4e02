"""Run one scenario end to end and account for its occurrences."""

from __future__ import annotations

import json
import math
import random
import time
from datetime import datetime
from pathlib import Path

import attrs

from beatcore import Store, connect
from beatcore.timeutil import UTC
from beatcore.timing import task_id
from bench.chaos import redbeat_side
from bench.chaos.harness import Harness, Side
from bench.chaos.report import BeatLog, ScenarioResult, analyse, read_records
from bench.chaos.scenarios import STABLE_ENTRIES, Run, Scenario

#: Seconds the processes get to start and elect a first leader.
STARTUP_TIMEOUT = 60.0


def _tails(harness: Harness) -> str:
    logs = [harness.worker_log, *(b.log for b in harness.beats)]
    return "\n".join(
        f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists()
    )


def _heal(harness: Harness) -> None:
    """After the faults: every beat running and unpaused, every proxy forwarding."""
    for beat in harness.beats:
        if beat.proxy is not None:
            beat.proxy.heal()
        if beat.paused:
            harness.resume_beat(beat)
        if not beat.alive:
            harness.start_beat(beat)


def _wait_for_runs(harness: Harness, names: list[str], after: float, timeout: float) -> bool:
    """Wait until the worker recorded, for each entry in ``names``, a run of an occurrence
    after ``after`` (any of the next 60 seconds: ``latest`` may skip some)."""
    wanted = {
        task_id(n, datetime.fromtimestamp(after + k, UTC)): n for n in names for k in range(1, 61)
    }
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = {wanted[r["id"]] for r in read_records(harness.record_file) if r["id"] in wanted}
        if seen >= set(names):
            return True
        time.sleep(0.25)
    return False


def run_scenario(
    scenario: Scenario,
    *,
    seconds: float,
    seed: int,
    workdir: Path,
    side: Side = "beatcore",
    lock_ttl: float = 3.0,
) -> ScenarioResult:
    """Start the processes, fault them for ``seconds``, heal, drain, stop and analyse."""
    rng = random.Random(f"{seed}:{scenario.name}")
    harness = Harness(
        workdir / f"{side}-{scenario.name}",
        store=scenario.store,
        beats=scenario.beats,
        lock_ttl=lock_ttl,
        proxied=scenario.proxied,
        clock_offsets=scenario.clock_offsets,
        side=side,
        broker_latency=scenario.broker_latency,
    )
    result = ScenarioResult(scenario.name, side, seconds, seed)
    store: Store | None = None
    until = 0.0
    bad: dict[str, str] = {}
    kept: set[str] = set()
    try:
        harness.start()
        if side == "beatcore":
            store = connect(harness.store_url)
        if harness.wait_for_leader(STARTUP_TIMEOUT) is None:
            raise RuntimeError(f"no beat took the lock in {STARTUP_TIMEOUT}s\n{_tails(harness)}")
        run = Run(harness, rng, store, anchor=float(math.floor(time.time()) - 60), deadline=0.0)
        if store is not None:
            run.save_stable()
        else:
            every = {name: every for name, (every, _) in STABLE_ENTRIES.items()}
            redbeat_side.save_entries(harness.store_url, every, run.plans)
        time.sleep(2.0)
        run.deadline = time.time() + seconds
        harness.event("faults-start")
        scenario.faults(run)
        harness.event("faults-end")
        _heal(harness)
        until = float(math.ceil(time.time()) + 1)
        ones = [n for n, p in run.plans.items() if p.open_segment and p.open_segment.every == 1]
        if side == "redbeat":
            time.sleep(until + 2 - time.time())
        elif not _wait_for_runs(harness, ones, until, 6 * lock_ttl + 20):
            result.notes.append(f"the run did not recover within {6 * lock_ttl + 20:.0f}s")
        result.notes.extend(run.notes)
        plans = list(run.plans.values())
        bad, kept = dict(run.bad), set(run.kept)
    finally:
        harness.stop()
        if store is not None:
            store.close()
    with open(harness.workdir / "events.jsonl", "w", encoding="utf-8") as out:
        for event in harness.events:
            out.write(json.dumps(attrs.asdict(event)) + "\n")
    for event in harness.events:
        if event.kind == "stop-timeout":
            result.notes.append(f"{event.target} ({event.detail}) ignored SIGTERM; killed")
    logs = [BeatLog.read(b.name, b.log) for b in harness.beats]
    analyser = analyse if side == "beatcore" else redbeat_side.analyse_gaps
    result = analyser(result, plans, read_records(harness.record_file), logs, harness.events, until)
    reported = {name for log in logs for name in log.corrupt_names}
    for name, kind in bad.items():
        counts = result.bad_kinds.setdefault(kind, [0, 0, 0])
        counts[0] += 1
        counts[1] += name in reported
        counts[2] += name in kept
    result.notes.append(f"logs in {harness.workdir}")
    return result


__all__ = ["STABLE_ENTRIES", "run_scenario"]
