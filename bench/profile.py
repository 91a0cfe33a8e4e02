"""Profile one operation of one side with pyinstrument: where a missed budget goes.

``python -m bench.profile --side beatcore --op dispatch --n 10000`` starts its own servers,
prepares the operation exactly as :mod:`bench.worker` does, and prints pyinstrument's text
report of the timed part only (``pip install pyinstrument``). ``--html FILE`` writes the
interactive report too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.servers import RedisServer
from bench.sides import (
    Sends,
    Side,
    beat_schedule,
    count_publishing,
    entry_names,
    exclude_publishing,
    side_class,
)

OPS = ("startup-cold", "startup-warm", "tick-1pct", "dispatch", "dispatch-publish")


def _prepare_ticks(side: Side, n: int) -> tuple[Any, Any, Sends]:
    side.store_entries(entry_names(n))
    app = side.app()
    scheduler = side.start(app)
    side.lead(scheduler)
    sends = Sends()
    exclude_publishing(scheduler, sends)
    _ = scheduler.producer
    return app, scheduler, sends


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare, then profile the timed part of ``--op``."""
    from pyinstrument import Profiler

    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--side", default="beatcore", choices=["beatcore", "redbeat"])
    parser.add_argument("--op", required=True, choices=OPS)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--html", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    with RedisServer("schedule") as server, RedisServer("broker") as broker:
        side = side_class(args.side)(f"{server.url}/0", f"{broker.url}/0")
        profiler = Profiler(interval=0.0005)
        n = args.n
        if args.op.startswith("startup"):
            config = beat_schedule(n)
            if args.op == "startup-warm":
                side.stop(side.start(side.app(config)))
            app = side.app(config)
            profiler.start()
            scheduler = side.start(app)
            profiler.stop()
            side.stop(scheduler)
        else:
            app, scheduler, sends = _prepare_ticks(side, n)
            names = entry_names(n)
            due = names[:: max(1, n // max(1, n // 100))][: max(1, n // 100)]
            side.make_due(app, due)  # warm-up round: loads the scripts
            while sends.count < len(due):
                scheduler.tick()
            if args.op == "tick-1pct":
                names = due
            if args.op == "dispatch-publish":
                count_publishing(scheduler, sends)
            side.make_due(app, names)
            sends.count = 0
            profiler.start()
            while sends.count < len(names):
                scheduler.tick()
            profiler.stop()
            side.stop(scheduler)
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
