"""The interleaved idle-tick method's bookkeeping and statistics (no server, no timing)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from bench.interleave import Contender, interleave, median_ci, no_slower, paired, spread
from bench.measure import Sample


class _Probe:
    """Stands in for :class:`bench.measure.Probe` (which needs a redis-server): each run is
    one round trip and two commands, its seconds taken from a list."""

    def __init__(self, seconds: list[float]) -> None:
        self.seconds = seconds

    @contextlib.contextmanager
    def run(self) -> Iterator[Sample]:
        sample = Sample(0.0, 1, 2)
        yield sample
        sample.seconds = self.seconds.pop(0)


def _contender(name: str, calls: list[str], seconds: list[float]) -> Contender:
    probe: Any = _Probe(seconds)
    return Contender(name, lambda: calls.append(name), probe)


def test_rounds_rotate_the_order_and_the_warmup_is_not_sampled() -> None:
    calls: list[str] = []
    a = _contender("a", calls, [1.0, 2.0, 3.0])
    b = _contender("b", calls, [4.0, 5.0, 6.0])
    samples = interleave([a, b], 3, pause=0, warmup=2)
    assert calls == ["a", "a", "b", "b", "a", "b", "b", "a", "a", "b"]
    assert [s.seconds for s in samples["a"]] == [1.0, 2.0, 3.0]
    assert [s.seconds for s in samples["b"]] == [4.0, 5.0, 6.0]
    assert all(s.ticks == 1 for s in samples["a"] + samples["b"])


def test_three_contenders_each_lead_a_round_in_turn() -> None:
    calls: list[str] = []
    contenders = [_contender(name, calls, [1.0] * 3) for name in "xyz"]
    interleave(contenders, 3, pause=0, warmup=0)
    assert calls == ["x", "y", "z", "y", "z", "x", "z", "x", "y"]


@pytest.mark.parametrize("rounds", [0, -1])
def test_no_rounds_is_refused(rounds: int) -> None:
    with pytest.raises(ValueError, match="rounds"):
        interleave([_contender("a", [], [])], rounds)


def test_two_contenders_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="distinct"):
        interleave([_contender("a", [], []), _contender("a", [], [])], 1)


def test_spread_reports_the_median_tenths_and_counts_in_ms() -> None:
    samples = [Sample(s / 1000, 1, 6) for s in range(1, 12)]  # 1 .. 11 ms
    figures = spread(samples, 500)
    assert (figures["n"], figures["rounds"]) == (500, 11)
    assert figures["ms_median"] == pytest.approx(6.0)
    assert (figures["ms_p10"], figures["ms_p90"]) == (pytest.approx(2.0), pytest.approx(10.0))
    assert (figures["round_trips"], figures["commands"]) == (1, 6)
    assert (figures["round_trips_max"], figures["commands_max"]) == (1, 6)


def test_the_median_interval_is_the_binomial_order_statistics() -> None:
    # n = 20: P(Bin(20, 1/2) <= 5) = 0.0207 <= 0.025 < P(<= 6), so the 6th smallest and the
    # 6th largest (a 95.9 % interval)
    assert median_ci(list(range(1, 21))) == (6, 15)
    assert median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)  # too few: the whole range
    with pytest.raises(ValueError):
        median_ci([])


def test_the_paired_ratio_is_the_baseline_over_the_candidate_per_round() -> None:
    candidate = [Sample(t, 1, 6) for t in (1.0, 1.0, 2.0, 4.0)]
    baseline = [Sample(t, 2, 8) for t in (2.0, 3.0, 1.0, 4.0)]
    pair = paired(candidate, baseline)
    assert pair["rounds"] == 4
    assert pair["median"] == pytest.approx((1.0 + 2.0) / 2)  # ratios 2, 3, 0.5, 1
    assert pair["no_slower_share"] == pytest.approx(0.75)
    assert pair["ci95"] == [0.5, 3.0]
    with pytest.raises(ValueError, match="differ"):
        paired(candidate, baseline[:3])


@pytest.mark.parametrize(
    ("median", "high", "met"),
    [(1.2, 1.5, True), (1.0, 1.1, True), (0.95, 1.02, True), (0.9, 0.97, False)],
)
def test_no_slower_means_the_median_or_its_interval_reaches_one(
    median: float, high: float, met: bool
) -> None:
    assert no_slower({"median": median, "ci95": [median - 0.1, high]}) is met
