"""beatcore's and RedBeat's save of a changed entry, interleaved one by one in one time window.

``python -m bench.save_pair [--n 10000] [--rounds 3000]`` starts a redis-server of its own,
stores N hourly entries for each side through its public API (beatcore ``save_many`` in
database 0, RedBeat one ``save`` per entry in database 1: the same server process, so both
sides' round trips meet the same wake-up latency), then alternates single saves: each round
one beatcore ``store.save(Entry(...))`` and one RedBeat ``RedBeatSchedulerEntry(...).save()``
of the next name with new arguments (B R, R B, ...), each save timed and its round trips
counted. The beatcore store is a fresh connection that has not read the names, as a web
worker saving one customer's schedule is, so each of its saves is the one-round-trip
changed save the script decides (:mod:`beatcore_redis.saving`).

Why: issue 17's budget for a changed save is 2x RedBeat, and :mod:`bench.run` times the two
sides' saves a minute or two apart, when the round trip's latency on this VM may have moved
(a redis-py PING measured 107 us and 300 us minutes apart). Interleaved, each round gives a
paired ratio, RedBeat's save / beatcore's (:func:`bench.interleave.paired`; above 1, beatcore
was faster). Not part of ``python -m bench``; the suite runs it at a small N.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Sequence
from typing import Any

from celery.schedules import schedule as celery_schedule
from redbeat.schedulers import RedBeatSchedulerEntry

import beatcore
from beatcore import Entry, Interval
from bench.interleave import Contender, describe, interleave, paired, spread
from bench.measure import Probe, RoundTripCounter
from bench.redbeat_side import RedBeatSide
from bench.servers import RedisServer
from bench.sides import PERIOD, TASK, entry_names


def measure(n: int, rounds: int) -> dict[str, Any]:
    """Store N entries per side on a server of its own, then time ``rounds`` rounds of one
    changed save each; return ``{"n", "rounds", "sides": {side: spread}, "paired": pair}``."""
    counter = RoundTripCounter().install()
    names = entry_names(n)
    with RedisServer("schedule") as server:
        beatcore_url, redbeat_url = f"{server.url}/0", f"{server.url}/1"
        store = beatcore.connect(beatcore_url)
        store.save_many(Entry(name=name, task=TASK, schedule=Interval(PERIOD)) for name in names)
        store.close()
        redbeat = RedBeatSide(redbeat_url, redbeat_url)
        redbeat.store_entries(names)
        app = redbeat.app()
        store = beatcore.connect(beatcore_url)  # has read none of them
        ours, theirs = itertools.cycle(names), itertools.cycle(names)
        versions, their_versions = itertools.count(1), itertools.count(1)

        def save_beatcore() -> None:
            entry = Entry(
                name=next(ours), task=TASK, schedule=Interval(PERIOD), args=(next(versions),)
            )
            store.save(entry)

        def save_redbeat() -> None:
            schedule = celery_schedule(PERIOD)
            args = (next(their_versions),)
            RedBeatSchedulerEntry(next(theirs), TASK, schedule, args=args, app=app).save()

        try:
            samples = interleave(
                [
                    Contender(
                        "beatcore", save_beatcore, Probe(counter, server.client(0), server.port)
                    ),
                    Contender(
                        "redbeat", save_redbeat, Probe(counter, server.client(1), server.port)
                    ),
                ],
                rounds,
                pause=0.0,
            )
        finally:
            store.close()
    return {
        "n": n,
        "rounds": rounds,
        "sides": {side: spread(taken, n) for side, taken in samples.items()},
        "paired": paired(samples["beatcore"], samples["redbeat"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print both sides' medians and the paired ratio."""
    parser = argparse.ArgumentParser(prog="python -m bench.save_pair", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="entries stored per side")
    parser.add_argument("--rounds", type=int, default=3_000)
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1:
        parser.error(f"--n and --rounds must be positive, got {args.n} and {args.rounds}")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = measure(args.n, args.rounds)
    for side, figures in result["sides"].items():
        print(
            f"{side}: changed save {figures['ms_median'] * 1000:.1f} us median "
            f"(p10-p90 {figures['ms_p10'] * 1000:.1f}-{figures['ms_p90'] * 1000:.1f}), "
            f"{figures['round_trips']:g} round trip(s)"
        )
    print(f"N={args.n:,}, {args.rounds:,} rounds: {describe(result['paired'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
