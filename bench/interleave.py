"""Idle ticks of several prepared schedulers measured interleaved, in one time window.

Why: on a small VM the round trip's latency (how soon a woken redis-server runs and its reply
is read) changes from minute to minute, by up to 3x for a sub-millisecond tick. Two series
of idle ticks taken minutes apart, one per side, then compare two latency regimes rather than
two ticks. Here every contender (a scheduler, already leader, over its own prepared store) is
ticked in turn within each round, the order rotated from round to round (A B, B A, ... for
two), so both sides see the same regimes, and each round gives a *paired* ratio: the two
ticks a few hundred microseconds apart.

- :func:`interleave` runs the rounds and returns each contender's samples (its warm-up ticks
  excluded);
- :func:`spread` summarizes one contender's samples: median, p10 and p90 in ms, and the round
  trips and server commands per tick (which do not drift);
- :func:`paired` compares two contenders round by round: the ratio ``baseline ÷ candidate``
  of each round (above 1, the candidate's tick was faster), its median, p10, p90 and a
  distribution-free 95 % confidence interval of that median;
- :func:`no_slower` is the verdict the budgets use.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from bench.measure import Probe, Sample

#: Rounds of a full run, and the pause after each (seconds): 300 rounds spread over about
#: 7 s, and each tick comes after the servers were idle a moment, as beat's ticks do.
ROUNDS = 300
PAUSE = 0.02
#: Untimed idle ticks of each contender before the first round (caches, script loads).
WARMUP = 3


@attrs.frozen
class Contender:
    """One scheduler whose idle tick is measured: ``tick`` runs one ``scheduler.tick()``;
    ``probe`` counts its round trips and the server's commands."""

    name: str
    tick: Callable[[], object]
    probe: Probe


def interleave(
    contenders: Sequence[Contender],
    rounds: int,
    *,
    pause: float = PAUSE,
    warmup: int = WARMUP,
) -> dict[str, list[Sample]]:
    """Tick every contender once per round, in an order rotated each round; return each
    contender's timed samples by name (``rounds`` each; the ``warmup`` ticks not among them).

    :raises ValueError: fewer than one round, no contenders, or two with the same name.
    """
    names = [c.name for c in contenders]
    if rounds < 1 or not names or len(set(names)) != len(names):
        raise ValueError(f"need rounds >= 1 and distinct contenders, got {rounds}, {names}")
    for contender in contenders:
        for _ in range(warmup):
            contender.tick()
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    gc.collect()
    for number in range(rounds):
        first = number % len(contenders)
        for contender in [*contenders[first:], *contenders[:first]]:
            with contender.probe.run() as sample:
                contender.tick()
            sample.ticks = 1
            samples[contender.name].append(sample)
        if pause > 0:
            time.sleep(pause)
    return samples


def _tenths(values: Sequence[float]) -> tuple[float, float]:
    """Return the 10th and 90th percentiles of ``values`` (both the value when only one)."""
    if len(values) < 2:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return cuts[0], cuts[-1]


def spread(samples: Sequence[Sample], n: int) -> dict[str, Any]:
    """Summarize one contender's idle ticks: ``{"n", "rounds", "seconds"`` (the median),
    ``"ms_median", "ms_p10", "ms_p90", "ms_all"`` (every tick, in round order),
    ``"round_trips", "commands"`` (medians) and their maxima ``"round_trips_max",
    "commands_max"``}``."""
    ms = [s.seconds * 1000 for s in samples]
    p10, p90 = _tenths(ms)
    return {
        "n": n,
        "rounds": len(samples),
        "seconds": statistics.median(s.seconds for s in samples),
        "ms_median": statistics.median(ms),
        "ms_p10": p10,
        "ms_p90": p90,
        "ms_all": [round(v, 4) for v in ms],
        "round_trips": statistics.median(s.round_trips for s in samples),
        "commands": statistics.median(s.commands for s in samples),
        "round_trips_max": max(s.round_trips for s in samples),
        "commands_max": max(s.commands for s in samples),
    }


def median_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Return a distribution-free confidence interval of the median of ``values``.

    The interval runs from the k-th smallest to the k-th largest value, k the largest for
    which fewer than ``(1 - confidence) / 2`` of the binomial(n, 1/2) mass lies below k: the
    median is inside it with at least ``confidence`` whatever the distribution. Below six
    values it is the whole range.
    """
    ordered = sorted(values)
    size = len(ordered)
    if size == 0:
        raise ValueError("no values")
    tail = (1 - confidence) / 2
    k, mass = 0, 0.0
    while k < size // 2:
        mass += math.comb(size, k) / 2**size
        if mass > tail:
            break
        k += 1
    k = max(k, 1)
    return ordered[k - 1], ordered[size - k]


def paired(candidate: Sequence[Sample], baseline: Sequence[Sample]) -> dict[str, Any]:
    """Compare two contenders round by round: the ratio ``baseline ÷ candidate`` of each
    round's tick times (above 1, the candidate was faster in that round).

    Returns ``{"rounds", "median", "p10", "p90", "ci95": [low, high]`` (of the median),
    ``"no_slower_share"`` (the share of rounds with a ratio of at least 1)``}``.

    :raises ValueError: the two ran a different number of rounds.
    """
    if len(candidate) != len(baseline) or not candidate:
        raise ValueError(f"paired rounds differ: {len(candidate)} and {len(baseline)}")
    ratios = [b.seconds / c.seconds for c, b in zip(candidate, baseline, strict=True)]
    p10, p90 = _tenths(ratios)
    low, high = median_ci(ratios)
    return {
        "rounds": len(ratios),
        "median": statistics.median(ratios),
        "p10": p10,
        "p90": p90,
        "ci95": [low, high],
        "no_slower_share": sum(r >= 1 for r in ratios) / len(ratios),
    }


def no_slower(pair: dict[str, Any]) -> bool:
    """The verdict of a "no slower" budget on a :func:`paired` comparison: met when the
    candidate's tick was no slower in the median round, or when the 95 % interval of that
    median reaches 1 (the rounds cannot tell the two apart)."""
    return bool(pair["median"] >= 1 or pair["ci95"][1] >= 1)


def describe(pair: dict[str, Any]) -> str:
    """Return a :func:`paired` comparison as text: median (p10-p90; 95 % CI), share."""
    low, high = pair["ci95"]
    return (
        f"paired ratio {pair['median']:.2f}x (p10-p90 {pair['p10']:.2f}-{pair['p90']:.2f}, "
        f"95 % CI of the median {low:.2f}-{high:.2f}; no slower in "
        f"{100 * pair['no_slower_share']:.0f} % of {pair['rounds']} rounds)"
    )
