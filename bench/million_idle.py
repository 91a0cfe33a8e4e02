"""The million bench's idle ticks at every N, interleaved in one process and one time window.

:mod:`bench.million` leaves each N's store in a database of its own on **one** redis-server
(N = 10k in database 1, 1M in database 2 by default) and then calls :func:`interleaved_idle`:
one leader per N in this process (``beat_schedule`` of :data:`STATIC` entries, as in the
warm start), three untimed idle ticks each, then rounds of one tick per N, the order rotated
each round (10k 1M, 1M 10k, ...), a short pause after each. The issue's budget is that an idle
tick at 1M is no slower than at 10k: what differs between the two ticks is then only the
store they read. One server, not two: the round trip's latency, which on a small VM moves
from minute to minute and with the server process's wake-up, is the same for both, so it
cannot be mistaken for a cost of N (the server-wide cost of holding 1M entries, if any, is in
both ticks alike; a tick reads only its own database's keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery

import beatcore
from bench.interleave import Contender, describe, interleave, no_slower, paired, spread
from bench.measure import Probe
from bench.sides import LOCK_TTL, PERIOD, TASK

#: Static entries in ``beat_schedule`` beside the N dynamic ones.
STATIC = 100


def million_app(url: str) -> Celery:
    """Return the million bench's Celery app: the store at ``url``, :data:`STATIC` hourly
    static entries, the benchmark's lock TTL."""
    made = Celery("million", set_as_current=False)
    made.conf.update(
        beatcore_url=url,
        beatcore_lock_ttl=LOCK_TTL,
        beat_schedule={
            f"static-{i:03d}": {"task": TASK, "schedule": PERIOD.total_seconds()}
            for i in range(STATIC)
        },
    )
    return made


def interleaved_idle(
    urls: Mapping[int, str], probe: Probe, rounds: int, pause: float
) -> dict[str, Any]:
    """Tick one leader per store (``{N: url}``, prepared) interleaved; return the figures.

    Returns ``{"rounds", "pause", "reference_n"`` (the smallest N), ``"spread": {N: spread}``,
    ``"paired": {N: pair}`` (each other N against the smallest: the per-round ratio
    smallest ÷ N, above 1 when the tick at N was faster), ``"sizes": {N: {"idle_tick_ms",
    "idle_tick_ms_p10", "idle_tick_ms_p90", "idle_tick_paired_ratio"}}`` (the table's keys)``}``.

    :raises RuntimeError: a scheduler did not become the leader.
    """
    schedulers = {n: beatcore.Scheduler(million_app(url)) for n, url in urls.items()}
    try:
        contenders = []
        for n, scheduler in schedulers.items():
            scheduler.tick()  # takes the lock
            if not scheduler.is_leader:
                raise RuntimeError(f"the scheduler of N={n} did not take the lock")
            contenders.append(Contender(str(n), scheduler.tick, probe))
        samples = interleave(contenders, rounds, pause=pause)
    finally:
        for scheduler in schedulers.values():
            scheduler.close()
    reference = min(urls)
    spreads = {str(n): spread(samples[str(n)], n) for n in urls}
    pairs = {
        str(n): paired(samples[str(n)], samples[str(reference)]) for n in urls if n != reference
    }
    sizes = {
        n: {
            "idle_tick_ms": figures["ms_median"],
            "idle_tick_ms_p10": figures["ms_p10"],
            "idle_tick_ms_p90": figures["ms_p90"],
            "idle_tick_paired_ratio": pairs[n]["median"] if n in pairs else 1.0,
        }
        for n, figures in spreads.items()
    }
    return {
        "rounds": rounds,
        "pause": pause,
        "reference_n": reference,
        "spread": spreads,
        "paired": pairs,
        "sizes": sizes,
    }


def idle_text(document: Mapping[str, Any]) -> str:
    """Return the interleaved comparison of a million document as Markdown lines: how it was
    measured, each N's median (p10-p90), and each N against the smallest with its verdict."""
    idle = document.get("idle_interleaved")
    if not idle:
        return "Idle ticks not measured interleaved (one size, or --rounds 0)."
    reference = int(idle["reference_n"])
    lines = [
        f"Idle tick, interleaved: one leader per N in one process, every N's store in its own "
        f"database of one redis-server, {idle['rounds']} rounds of one tick each (order "
        f"rotated, {idle['pause']} s pause after each round), after three untimed ticks each. "
        f"Ratio = the tick at N={reference:,} ÷ the tick at N, per round (above 1: N faster).",
        "",
    ]
    for n, figures in sorted(idle["spread"].items(), key=lambda item: int(item[0])):
        text = (
            f"- N={int(n):,}: {figures['ms_median']:.3g} ms "
            f"(p10-p90 {figures['ms_p10']:.3g}-{figures['ms_p90']:.3g}), "
            f"{figures['round_trips']:g} round trip(s), {figures['commands']:g} commands"
        )
        pair = idle["paired"].get(n)
        if pair is not None:
            verdict = "no slower" if no_slower(pair) else "**slower**"
            text += f"; against N={reference:,}: {describe(pair)}: {verdict}"
        lines.append(text)
    return "\n".join(lines)
