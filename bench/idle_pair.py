"""beatcore's and RedBeat's idle ticks at one N, interleaved in one process and one time window.

``python -m bench.idle_pair --n 10000 --schedule-port P --broker-port B --out FILE`` is the
process :mod:`bench.run` starts at each N both sides ran (after their scenarios, the schedule
server flushed). It:

1. stores N hourly dynamic entries for each side, each through its public API
   (beatcore ``save_many``, RedBeat one ``save`` per entry: it has no batch), **beatcore in
   database 0 and RedBeat in database 1 of the same schedule server**: both ticks' round
   trips then go to the one redis-server process, so the latency of its wake-up, which is
   what moves from minute to minute on a small VM, is the same for both, and each tick still
   reads only its own side's keys;
2. constructs both schedulers with an empty ``beat_schedule``, makes each the leader, replaces
   their publishing with a no-op (:func:`bench.sides.exclude_publishing`, nothing is due) and
   opens their producers;
3. runs :func:`bench.interleave.interleave`: three untimed idle ticks each, then ``--rounds``
   rounds of one beatcore tick and one RedBeat tick (B R, R B, ...), a short pause after each
   round, every tick timed and its round trips and server commands counted
   (:class:`bench.measure.Probe`; ``INFO commandstats`` is taken outside the timed part).

It writes ``{"n", "rounds", "pause", "sides": {side: spread}, "paired": pair}`` as JSON:
each side's :func:`bench.interleave.spread` and the per-round ratio RedBeat ÷ beatcore
(:func:`bench.interleave.paired`; above 1, beatcore's tick was faster).

On its own, ``python -m bench.idle_pair --sizes 1000,10000 [--rounds 300]`` starts two
redis-servers of its own (schedule, broker), measures each N the same way and prints the
table :func:`idle_table` (and ``--out`` the JSON): the interleaved figures alone, without the
rest of ``python -m bench``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from bench.interleave import PAUSE, ROUNDS, Contender, interleave, paired, spread
from bench.measure import Probe, RoundTripCounter
from bench.servers import RedisServer
from bench.sides import Sends, entry_names, exclude_publishing, side_class

#: Each side's database on the schedule server.
DATABASES = {"beatcore": 0, "redbeat": 1}
#: The two sides, in the report's order.
SIDES = tuple(DATABASES)


def prepare(
    side_name: str, n: int, schedule_port: int, broker_port: int, probe: Probe
) -> tuple[Any, Contender, Sends]:
    """Store ``n`` entries for one side in its database, start its scheduler as the leader
    with publishing excluded; return the scheduler, its contender and its send counter."""
    url = f"redis://127.0.0.1:{schedule_port}/{DATABASES[side_name]}"
    side = side_class(side_name)(url, f"redis://127.0.0.1:{broker_port}/0")
    side.store_many(entry_names(n))
    scheduler = side.start(side.app())
    side.lead(scheduler)
    sends = Sends()
    exclude_publishing(scheduler, sends)
    _ = scheduler.producer  # the broker connection both schedulers open once, made up front
    return scheduler, Contender(side_name, scheduler.tick, probe), sends


def measure(
    n: int, rounds: int, pause: float, schedule_port: int, broker_port: int
) -> dict[str, Any]:
    """Prepare both sides at ``n`` and run the interleaved rounds; return the figures.

    :raises RuntimeError: a tick sent something (an idle tick must not).
    """
    counter = RoundTripCounter().install()
    server = redis.Redis(host="127.0.0.1", port=schedule_port, db=0)
    probe = Probe(counter, server, schedule_port, broker_port)
    prepared = [prepare(name, n, schedule_port, broker_port, probe) for name in SIDES]
    try:
        samples = interleave([contender for _, contender, _ in prepared], rounds, pause=pause)
    finally:
        for scheduler, _, _ in prepared:
            scheduler.close()
        server.close()
    sent = {contender.name: sends.count for _, contender, sends in prepared}
    if any(sent.values()):
        raise RuntimeError(f"idle ticks sent entries: {sent}")
    return {
        "n": n,
        "rounds": rounds,
        "pause": pause,
        "sides": {name: spread(samples[name], n) for name in SIDES},
        "paired": paired(samples["beatcore"], samples["redbeat"]),
    }


def ms_spread(figures: Mapping[str, Any]) -> str:
    """Return one side's :func:`bench.interleave.spread` as ``median ms (p10-p90)``."""
    return f"{figures['ms_median']:.3g} ms ({figures['ms_p10']:.3g}-{figures['ms_p90']:.3g})"


def idle_table(document: Mapping[str, Any]) -> str:
    """Return the interleaved idle ticks of a :mod:`bench.run` document as Markdown: per N,
    each side's median and p10-p90, and the per-round ratio RedBeat ÷ beatcore."""
    lines = [
        "Idle tick, interleaved (both sides' ticks alternated in one process, in one time "
        "window, against one redis-server; ratio = RedBeat ÷ beatcore in each round):",
        "",
        "| N | rounds | beatcore: median (p10-p90) | RedBeat: median (p10-p90) "
        "| paired ratio: median (p10-p90) | 95 % CI of the median | beatcore no slower |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, pair in sorted(document["idle_interleaved"].items(), key=lambda item: int(item[0])):
        cells = [f"{int(n):,}", str(pair["rounds"])]
        cells += [ms_spread(document["results"][s][n]["tick_idle_interleaved"]) for s in SIDES]
        p = pair["paired"]
        cells += [
            f"{p['median']:.2f}x ({p['p10']:.2f}-{p['p90']:.2f})",
            f"{p['ci95'][0]:.2f}-{p['ci95'][1]:.2f}",
            f"{100 * p['no_slower_share']:.0f} % of rounds",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def as_document(measured: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return :func:`measure` results (one per N) as the parts of a :mod:`bench.run` document
    that :func:`idle_table` reads: ``results[side][N]["tick_idle_interleaved"]`` and
    ``idle_interleaved[N]`` (the rest of each result)."""
    results: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
    pairs: dict[str, Any] = {}
    for result in measured:
        n = str(result["n"])
        for side in SIDES:
            results[side][n] = {"tick_idle_interleaved": result["sides"][side]}
        pairs[n] = {key: value for key, value in result.items() if key != "sides"}
    return {"results": results, "idle_interleaved": pairs}


def main(argv: Sequence[str] | None = None) -> int:
    """Measure one N on given servers and write its figures as JSON to ``--out`` (as
    :mod:`bench.run` calls it), or each of ``--sizes`` on servers of its own and print them."""
    parser = argparse.ArgumentParser(prog="python -m bench.idle_pair", description=__doc__)
    parser.add_argument("--n", type=int, help="one N, on --schedule-port and --broker-port")
    parser.add_argument("--sizes", help="comma-separated N, on servers of its own")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--pause", type=float, default=PAUSE, help="seconds after each round")
    parser.add_argument("--schedule-port", type=int)
    parser.add_argument("--broker-port", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    worker = args.n is not None
    sizes = [args.n] if worker else [int(x) for x in (args.sizes or "").split(",") if x.strip()]
    if worker == (args.sizes is not None) or (
        worker and not (args.schedule_port and args.broker_port and args.out)
    ):
        parser.error("give --n with --schedule-port, --broker-port and --out, or --sizes")
    if not sizes or min(sizes) < 1 or args.rounds < 1 or args.pause < 0:
        parser.error(
            f"N and --rounds must be positive, --pause not negative: {sizes}, {args.rounds}, "
            f"{args.pause}"
        )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if worker:
        result = measure(args.n, args.rounds, args.pause, args.schedule_port, args.broker_port)
        args.out.write_text(json.dumps(result, indent=1))
        return 0
    measured = []
    with RedisServer("schedule") as schedule, RedisServer("broker") as broker:
        for n in sizes:
            print(f"[idle_pair] N={n:,} (x{args.rounds}) ...", file=sys.stderr, flush=True)
            measured.append(measure(n, args.rounds, args.pause, schedule.port, broker.port))
            with schedule.client() as admin:
                admin.flushall()
    document = as_document(measured)
    print(idle_table(document))
    if args.out is not None:
        args.out.write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
