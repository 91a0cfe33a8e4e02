"""The midnight burst: N entries due at the same instant, dispatched with a real Redis broker.

``python -m bench.burst --n 100000`` starts a schedule ``redis-server`` and a broker
``redis-server`` of its own (127.0.0.1, free ports), stores N daily entries whose first run is
the same midnight (``save_many``), then, in a fresh process (so its RSS is the burst's own),
constructs ``beatcore.Scheduler`` on a clock that stands one second before that midnight, takes
the lock, moves the clock to midnight and ticks until every entry was sent. The claims come in
pages of ``beatcore_batch_size`` (a full page has the next one claimed while it is sent, up to
``PAGES_PER_TICK`` pages a tick; a tick whose last page was full returns 0, so celery beat
ticks again at once), so the process holds at most two pages, never all N.

Reported per publish path: seconds from the first tick of the burst to the last message
written (wall and CPU), messages/s, ticks, the most sent in one tick, the pages claimed and
the largest, and RSS: before the
burst, the largest after any tick, and the process peak during the burst (which covers the
inside of each tick: ``VmHWM``, reset when the burst starts). The broker's queue must then
hold exactly N messages.

``--customers`` gives each entry arguments of its own (``args=(i,)``, ``kwargs={"customer":
"c-i"}``: one schedule per customer, each message its own body), where the plain burst's
entries differ by their names alone.

Also reported: the replies the burst read from each server, how many were not there yet
when the client asked (it had to wait), and the seconds it spent in redis-py's
``read_response`` (wall time: the client idle while the server works, the wire, the
parse); and, from the servers' ``SLOWLOG``, the schedule server's microseconds per call of
each script (claim, ack) that took 1 ms or more (a page's; idle calls and the commands
inside the scripts, which would each cost the log an entry, stay out) and the broker's for
every write: the server time a tick's client waits for or hides behind its own work,
figures that drift far less with the load than wall time.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from celery import Celery

import beatcore
from beatcore import Entry, Interval
from beatcore.listeners import Observer
from beatcore.publisher import Publisher
from bench.burst_probe import ReplyWaits, peak_mb, queued, reset_peak, server_time, start_slowlog
from bench.measure import rss_mb
from bench.servers import RedisServer
from bench.sides import LOCK_TTL, TASK, Sends

#: The instant every entry is first due.
MIDNIGHT = datetime(2026, 1, 1, tzinfo=timezone.utc)
PATHS = ("new", "celery")
#: Ticks a burst may take beyond ``n / batch`` before it counts as stuck.
_SPARE_TICKS = 20


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


class BurstClock:
    """The scheduler's clock: one second before midnight until :meth:`start`, then midnight
    plus the real time elapsed since."""

    def __init__(self) -> None:
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        if self._started is None:
            return MIDNIGHT - timedelta(seconds=1)
        return MIDNIGHT + timedelta(seconds=time.monotonic() - self._started)


class _Counter(Observer):
    """Counts the occurrences the scheduler reports sent, as one of its own observers (its
    metrics are one): a count that costs what a deployment without listener plugins pays,
    where a listener plugin would add pluggy's call to every message (about 3 us)."""

    def __init__(self, sends: Sends) -> None:
        self.sends = sends

    def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        self.sends.count += 1


def burst_entry(i: int, schedule: Interval, customers: bool) -> Entry:
    """The ``i``-th entry of the burst (``customers``: with arguments of its own)."""
    if customers:
        return Entry(
            name=f"burst-{i:07d}",
            task=TASK,
            schedule=schedule,
            args=(i,),
            kwargs={"customer": f"c-{i}"},
        )
    return Entry(name=f"burst-{i:07d}", task=TASK, schedule=schedule)


def store_entries(schedule_url: str, n: int, customers: bool = False) -> None:
    """Store ``n`` daily entries, each first due at :data:`MIDNIGHT`, in batches
    (``customers``: each with arguments of its own, :func:`burst_entry`)."""
    store = beatcore.connect(schedule_url, clock=lambda: MIDNIGHT - timedelta(seconds=1))
    try:
        day = Interval(timedelta(days=1), anchor=MIDNIGHT)
        chunk = 10_000
        for first in range(0, n, chunk):
            report = store.save_many(
                burst_entry(i, day, customers) for i in range(first, min(n, first + chunk))
            )
            if report.refused:
                raise RuntimeError(f"save_many refused {report.refused}")
    finally:
        store.close()


def burst(schedule_url: str, broker_url: str, n: int, batch_size: int, path: str) -> dict[str, Any]:
    """Run one burst in this process (the child); return its figures."""
    app = Celery("bench-burst", broker=broker_url, set_as_current=True)
    app.conf.update(
        timezone="UTC",
        beat_schedule={},
        beatcore_url=schedule_url,
        beatcore_lock_ttl=LOCK_TTL,
        beatcore_batch_size=batch_size,
        broker_connection_retry_on_startup=True,
    )
    clock = BurstClock()
    scheduler = beatcore.Scheduler(app, clock=clock)
    scheduler.tick()  # takes the lock; nothing is due a second before midnight
    if not scheduler.is_leader:
        raise RuntimeError("the scheduler did not take the lock")
    if path == "celery":
        # every message through Celery's send_task, as before messages were built once
        scheduler.publisher = scheduler.dispatcher.publisher = Publisher(app, scheduler, fast=False)
    _ = scheduler.producer  # the broker connection, opened once, as beat does
    sends = Sends()
    scheduler.listeners.observe(_Counter(sends))
    pages = _count_pages(scheduler.store)
    gc.collect()
    rss_before = rss_mb()
    peak_before = peak_mb()
    reset_peak()
    ticks = most = 0
    rss_after_tick = rss_before
    waits = ReplyWaits()
    waits.start()
    clock.start()
    started, cpu = time.perf_counter(), time.process_time()
    while sends.count < n:
        if ticks >= n // batch_size + _SPARE_TICKS:
            raise RuntimeError(f"sent {sends.count} of {n} in {ticks} ticks")
        before = sends.count
        scheduler.tick()
        ticks += 1
        most = max(most, sends.count - before)
        rss_after_tick = max(rss_after_tick, rss_mb())
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    waits.stop()
    scheduler.close()
    schedule_port, broker_port = _port(schedule_url), _port(broker_url)
    return {
        "path": path,
        "n": n,
        "batch_size": batch_size,
        "sent": sends.count,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "per_second": n / seconds,
        "per_cpu_second": n / cpu_seconds,
        "ticks": ticks,
        "most_sent_in_a_tick": most,
        "pages": len(pages),
        "largest_page": max(pages, default=0),
        "rss_before_mb": rss_before,
        "rss_after_tick_max_mb": rss_after_tick,
        "rss_peak_mb": peak_mb(),
        "rss_peak_before_mb": peak_before,
        "load_average": os.getloadavg()[0],
        "schedule_wait_seconds": waits.seconds.get(schedule_port, 0.0),
        "schedule_replies": waits.replies.get(schedule_port, 0),
        "schedule_replies_waited": waits.waited.get(schedule_port, 0),
        "broker_wait_seconds": waits.seconds.get(broker_port, 0.0),
        "broker_replies": waits.replies.get(broker_port, 0),
        "broker_replies_waited": waits.waited.get(broker_port, 0),
    }


def _count_pages(store: Any) -> list[int]:
    """Return the list to which every claim of ``store`` from now on adds its size, when
    not empty (a tick claims up to PAGES_PER_TICK pages, each after the one before)."""
    pages: list[int] = []
    claim_due, claim_due_ahead = store.claim_due, store.claim_due_ahead

    def kept(result: Any) -> Any:
        if result.claims:
            pages.append(len(result.claims))
        return result

    store.claim_due = lambda *args, **kwargs: kept(claim_due(*args, **kwargs))
    store.claim_due_ahead = lambda *args, **kwargs: (lambda ahead: lambda: kept(ahead()))(
        claim_due_ahead(*args, **kwargs)
    )
    return pages


def run(
    n: int, batch_size: int, paths: Sequence[str], customers: bool = False
) -> list[dict[str, Any]]:
    """Start the servers, run one burst per path in a child process, check the broker
    (``customers``: entries with arguments of their own, :func:`burst_entry`)."""
    results = []
    with RedisServer("schedule") as server, RedisServer("broker") as broker:
        for path in paths:
            for each in (server, broker):
                with each.client() as client:
                    client.flushall()
            store_entries(f"{server.url}/0", n, customers)
            with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
                out = Path(tmp) / "burst.json"
                start_slowlog(server, 1000)
                start_slowlog(broker, 0)
                subprocess.run(
                    [
                        sys.executable, "-m", "bench.burst", "--child", "--path", path,
                        "--n", str(n), "--batch-size", str(batch_size),
                        "--schedule-url", f"{server.url}/0", "--broker-url", f"{broker.url}/0",
                        "--out", str(out),
                    ],
                    check=True,
                )  # fmt: skip
                result = json.loads(out.read_text())
            result["entries"] = "customers" if customers else "plain"
            result["schedule_server"] = server_time(server)
            result["broker_server"] = server_time(broker)
            result["queued"] = queued(broker)
            if result["queued"] != n:
                raise RuntimeError(f"the broker holds {result['queued']} messages, not {n}")
            results.append(result)
    return results


def table(results: Sequence[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| path | entries | N | batch | seconds (wall) | CPU s | messages/s (wall) | per CPU s "
        "| ticks | most in a tick | RSS before (MB) | RSS after a tick, max "
        "| peak before / during |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['path']} | {r.get('entries', 'plain')} | {r['n']:,} | {r['batch_size']} "
            f"| {r['seconds']:.2f} "
            f"| {r['cpu_seconds']:.2f} | {r['per_second']:,.0f} | {r['per_cpu_second']:,.0f} "
            f"| {r['ticks']} | {r['most_sent_in_a_tick']} | {r['rss_before_mb']:.1f} "
            f"| {r['rss_after_tick_max_mb']:.1f} "
            f"| {r['rss_peak_before_mb']:.1f} / {r['rss_peak_mb']:.1f} |"
        )
    lines += [
        "",
        "| path | load | schedule: replies, not ready when read, s in read_response "
        "| broker: the same |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['path']} | {r['load_average']:.1f} "
            f"| {r['schedule_replies']:,}, {r['schedule_replies_waited']:,}, "
            f"{r['schedule_wait_seconds']:.2f} "
            f"| {r['broker_replies']:,}, {r['broker_replies_waited']:,}, "
            f"{r['broker_wait_seconds']:.2f} |"
        )
    for r in results:
        lines += ["", f"Server time of the `{r['path']}` burst (SLOWLOG):", ""]
        lines += [
            "| server | command | calls | ms in all | us per call |",
            "|---|---|---:|---:|---:|",
        ]
        for side in ("schedule_server", "broker_server"):
            for command, figures in r.get(side, {}).items():
                lines.append(
                    f"| {side.split('_')[0]} | {command} | {figures['calls']:,} "
                    f"| {figures['usec'] / 1000:,.1f} | {figures['usec_per_call']:,.1f} |"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the burst (or, with ``--child``, one burst in this process)."""
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--paths", default="new", help="comma-separated: new, celery")
    parser.add_argument(
        "--customers", action="store_true", help="each entry with arguments of its own"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", choices=PATHS, default="new", help=argparse.SUPPRESS)
    parser.add_argument("--schedule-url", help=argparse.SUPPRESS)
    parser.add_argument("--broker-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.child:
        result = burst(args.schedule_url, args.broker_url, args.n, args.batch_size, args.path)
        args.out.write_text(json.dumps(result))
        return 0
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown path {unknown[0]!r}: expected one of {', '.join(PATHS)}")
    results = run(args.n, args.batch_size, paths, args.customers)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
