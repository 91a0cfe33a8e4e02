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

Two more contenders run in the same rounds, to show what bounds the ratio: a bare redis-py
PING (any one-round-trip save costs at least that), and ``replay``, beatcore's own script
calls for changed saves of other names (recorded once, untimed, from fresh stores) sent
again byte for byte on a bare connection, so the round trip and the script are timed without
any beatcore code. RedBeat ÷ replay is the ratio beatcore's save would have if its client
side cost nothing; the gap between it and RedBeat ÷ beatcore is beatcore's Python. Each
contender's thread CPU time per call is reported too (the kernel's part of the socket calls
included, so a PING's is not zero).

``--cpu N`` runs the rounds with the redis-server and this process pinned to CPU N, both
sides alike: a round trip then needs no wake-up of another CPU, which on a VM costs each
round trip about as much as everything else in a save (see RESULTS.md); without it the
kernel places both where it likes, as :mod:`bench.run` leaves them.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis
from celery.schedules import schedule as celery_schedule
from redbeat.schedulers import RedBeatSchedulerEntry

import beatcore
from beatcore import Entry, Interval
from bench.interleave import Contender, describe, interleave, paired, spread
from bench.measure import Probe, RoundTripCounter, recorded_commands
from bench.redbeat_side import RedBeatSide
from bench.servers import HOST, RedisServer
from bench.sides import PERIOD, TASK, entry_names

#: The raw contenders: a redis-py PING (the cheapest one-round-trip call) and beatcore's own
#: changed-save calls, as recorded, sent again on a bare connection (no beatcore code runs).
CEILINGS = ("ping", "replay")
#: What each ceiling's line of the printout times.
_WHAT = {"ping": "PING", "replay": "its script calls sent again"}


def measure(n: int, rounds: int, cpu: int | None = None) -> dict[str, Any]:
    """Store N entries per side on a server of its own, then time ``rounds`` rounds of one
    changed save each, with the two :data:`CEILINGS` in the same rounds (with the server
    and this thread on CPU ``cpu``; None: not pinned); return ``{"n", "rounds", "cpu",
    "sides": {contender: spread}, "cpu_us": {contender: median thread CPU}, "paired":
    RedBeat ÷ beatcore, "ceilings": {ceiling: RedBeat ÷ it}}``.

    :raises ValueError: fewer than 3 entries (a third of them are replayed), no round, or
        a CPU this process may not run on.
    :raises RuntimeError: the recorded saves are not the script call this measures.
    """
    if n < 3 or rounds < 1:
        raise ValueError(f"need n >= 3 and rounds >= 1, got {n} and {rounds}")
    if cpu is not None and cpu not in os.sched_getaffinity(0):
        raise ValueError(f"CPU {cpu} is not one this process may run on: {allowed_cpus()}")
    counter = RoundTripCounter().install()
    names = entry_names(n)
    replayed, ours = names[: n // 3], names[n // 3 :]
    with RedisServer("schedule") as server:
        beatcore_url, redbeat_url = f"{server.url}/0", f"{server.url}/1"
        store = beatcore.connect(beatcore_url)
        store.save_many(Entry(name=name, task=TASK, schedule=Interval(PERIOD)) for name in names)
        store.close()
        packets = _changed_save_calls(beatcore_url, server.port, replayed)
        redbeat = RedBeatSide(redbeat_url, redbeat_url)
        redbeat.store_entries(names)
        app = redbeat.app()
        store = beatcore.connect(beatcore_url)  # has read none of them
        our_names, their_names = itertools.cycle(ours), itertools.cycle(names)
        versions, their_versions = itertools.count(1), itertools.count(1)

        def save_beatcore() -> None:
            entry = Entry(
                name=next(our_names), task=TASK, schedule=Interval(PERIOD), args=(next(versions),)
            )
            store.save(entry)

        def save_redbeat() -> None:
            schedule = celery_schedule(PERIOD)
            args = (next(their_versions),)
            RedBeatSchedulerEntry(next(their_names), TASK, schedule, args=args, app=app).save()

        bare = {db: _bare_connection(server.port, db) for db in (0, 2)}
        calls = itertools.cycle(packets)

        def replay() -> None:
            bare[0].send_packed_command([next(calls)])
            reply = bare[0].read_response()
            if not (isinstance(reply, list) and len(reply) == 4 and reply[0] == 1):
                raise RuntimeError(f"a replayed save did not keep the state: {reply!r}")

        def ping() -> None:
            bare[2].send_command("PING")
            bare[2].read_response()

        spent_cpu: dict[str, list[float]] = {}
        work = {"beatcore": (save_beatcore, 0), "redbeat": (save_redbeat, 1)}
        work.update({"ping": (ping, 2), "replay": (replay, 0)})
        try:
            with _pinned(server.pid, cpu):
                samples = interleave(
                    [
                        Contender(
                            side,
                            _cpu_timed(tick, spent_cpu.setdefault(side, [])),
                            Probe(counter, server.client(db), server.port),
                        )
                        for side, (tick, db) in work.items()
                    ],
                    rounds,
                    pause=0.0,
                )
        finally:
            store.close()
            for connection in bare.values():
                connection.disconnect()
    return {
        "n": n,
        "rounds": rounds,
        "cpu": cpu,
        "sides": {side: spread(taken, n) for side, taken in samples.items()},
        "cpu_us": {side: statistics.median(spent) * 1e6 for side, spent in spent_cpu.items()},
        "paired": paired(samples["beatcore"], samples["redbeat"]),
        "ceilings": {side: paired(samples[side], samples["redbeat"]) for side in CEILINGS},
    }


def _changed_save_calls(url: str, port: int, names: Sequence[str]) -> list[bytes]:
    """Save each of ``names`` (stored, without arguments) changed twice, args ``(1,)`` then
    ``(2,)``, each time from a store that has read none of them, and return the script calls
    those saves sent: sent again in that order, round after round, each is again a changed
    save whose script keeps the state, as beatcore's own in :func:`measure`."""
    with recorded_commands(port) as sent:
        for version in (1, 2):
            store = beatcore.connect(url)
            try:
                for name in names:
                    store.save(
                        Entry(name=name, task=TASK, schedule=Interval(PERIOD), args=(version,))
                    )
            finally:
                store.close()
    calls = [packet for packet in sent if packet.split(b"\r\n", 3)[2].upper() == b"EVALSHA"]
    if len(calls) != 2 * len(names):
        raise RuntimeError(f"{2 * len(names)} saves sent {len(calls)} script calls")
    return calls


def _bare_connection(port: int, db: int) -> Any:
    """A connected redis-py connection to ``db`` of the server on ``port``, of its own: no
    pool and no client code around it."""
    connection = redis.Connection(host=HOST, port=port, db=db)  # type: ignore[no-untyped-call]
    connection.connect()  # type: ignore[no-untyped-call]
    return connection


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on, in order (what ``--cpu`` accepts)."""
    return sorted(os.sched_getaffinity(0))


@contextlib.contextmanager
def _pinned(server_pid: int, cpu: int | None) -> Iterator[None]:
    """Run the block with every thread of the server ``server_pid`` and the calling thread
    on CPU ``cpu`` (None: as they are), and give them back their CPUs after."""
    if cpu is None:
        yield
        return
    threads = [int(task) for task in os.listdir(f"/proc/{server_pid}/task")]
    before: dict[int, set[int]] = {}
    for thread in [0, *threads]:
        with contextlib.suppress(ProcessLookupError):  # a server thread that ended since
            before[thread] = os.sched_getaffinity(thread)
    try:
        for thread in before:
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(thread, {cpu})
        yield
    finally:
        for thread, cpus in before.items():
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(thread, cpus)


def _cpu_timed(tick: Callable[[], object], into: list[float]) -> Callable[[], None]:
    """``tick``, with the CPU time the calling thread spent in it appended to ``into``
    (the kernel's share of the socket calls included)."""

    def timed() -> None:
        start = time.thread_time()
        tick()
        into.append(time.thread_time() - start)

    return timed


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print each contender's median and the paired ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.save_pair", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="entries stored per side")
    parser.add_argument("--rounds", type=int, default=3_000)
    parser.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="pin the redis-server and this process to this CPU for the rounds",
    )
    args = parser.parse_args(argv)
    if args.n < 3 or args.rounds < 1:
        parser.error(
            f"--n must be at least 3 and --rounds positive, got {args.n} and {args.rounds}"
        )
    if args.cpu is not None and args.cpu not in allowed_cpus():
        parser.error(f"--cpu must be one of {allowed_cpus()}, got {args.cpu}")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = measure(args.n, args.rounds, args.cpu)
    for side, figures in result["sides"].items():
        what = _WHAT.get(side, "changed save")
        print(
            f"{side}: {what} {figures['ms_median'] * 1000:.1f} us median "
            f"(p10-p90 {figures['ms_p10'] * 1000:.1f}-{figures['ms_p90'] * 1000:.1f}), "
            f"{figures['round_trips']:g} round trip(s), "
            f"{result['cpu_us'][side]:.0f} us CPU median"
        )
    where = "not pinned" if args.cpu is None else f"server and client on CPU {args.cpu}"
    print(
        f"N={args.n:,}, {args.rounds:,} rounds, {where}, "
        f"RedBeat / beatcore: {describe(result['paired'])}"
    )
    for side, pair in result["ceilings"].items():
        print(f"RedBeat / {side}: {describe(pair)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
