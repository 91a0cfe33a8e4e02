"""``python -m bench.chaos``: run fault scenarios and print one table.

Examples::

    python -m bench.chaos                          # every scenario, 60 s each
    python -m bench.chaos --scenario kill9 --scenario sigstop --seconds 20 --seed 7
    python -m bench.chaos --json results.json --markdown
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos.report import ScenarioResult, table
from bench.chaos.runner import run_scenario
from bench.chaos.scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the scenarios in turn, print the table; 1 if any duplicated or
    missed an occurrence."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="run this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="length of each scenario's fault window (default 60)",
    )
    parser.add_argument(
        "--side",
        choices=("beatcore", "redbeat"),
        default="beatcore",
        help="the scheduler under test (redbeat: the scenarios that apply)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault timing")
    parser.add_argument("--lock-ttl", type=float, default=3.0, help="beatcore_lock_ttl (3)")
    parser.add_argument("--workdir", type=Path, help="logs and records (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--verbose", action="store_true", help="list each bad occurrence")
    args = parser.parse_args(argv)  # fmt: skip

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="beatcore-chaos-"))
    names = args.scenario or [
        name for name, s in SCENARIOS.items() if args.side == "beatcore" or s.redbeat
    ]
    results: list[ScenarioResult] = []
    for name in names:
        started = time.monotonic()
        print(f"== {name}: {SCENARIOS[name].summary} ({args.seconds:g}s)", flush=True)
        result = run_scenario(
            SCENARIOS[name], seconds=args.seconds, seed=args.seed, workdir=workdir,
            lock_ttl=args.lock_ttl, side=args.side,
        )  # fmt: skip
        results.append(result)
        print(f"   done in {time.monotonic() - started:.0f}s; " + "; ".join(result.notes))
        if result.bad_kinds:
            counts = ", ".join(
                f"{k} {p}/{r}/{s}" for k, (p, r, s) in sorted(result.bad_kinds.items())
            )
            print(f"   bad records planted/reported/kept: {counts}")
        for line in result.details if args.verbose else result.details[:10]:
            print(f"   {line}")
    print()
    print(table(results, markdown=args.markdown))
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    return 1 if any(r.duplicated or r.missed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
