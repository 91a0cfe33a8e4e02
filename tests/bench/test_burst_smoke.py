"""A small-N run of ``python -m bench.burst``: every entry due at one instant is sent, in pages.

Real redis-servers (schedule and broker), a real scheduler in a process of its own, both
publish paths; only counts are asserted, never times or memory.
"""

from __future__ import annotations

from typing import Any

import pytest
from bench import burst

N = 120
BATCH = 50

pytestmark = pytest.mark.redis_server


@pytest.fixture(scope="module", params=["plain", "customers"])
def results(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """Both paths' figures, for entries that differ by their names alone or by arguments of
    their own too (one schedule per customer)."""
    customers = request.param == "customers"
    return {r["path"]: r for r in burst.run(N, BATCH, burst.PATHS, customers)}


@pytest.mark.parametrize("path", burst.PATHS)
def test_every_entry_is_sent_once_and_reaches_the_broker(
    results: dict[str, dict[str, Any]], path: str
) -> None:
    assert results[path]["sent"] == N
    assert results[path]["queued"] == N


@pytest.mark.parametrize("path", burst.PATHS)
def test_the_burst_is_claimed_in_pages_of_the_batch_size(
    results: dict[str, dict[str, Any]], path: str
) -> None:
    assert (results[path]["pages"], results[path]["largest_page"]) == (3, BATCH), "50 + 50 + 20"
    # each full page had the next claimed while it was sent: one tick for all three
    assert results[path]["ticks"] == 1
    assert results[path]["most_sent_in_a_tick"] == N


def test_the_table_names_both_paths(results: dict[str, dict[str, Any]]) -> None:
    text = burst.table(list(results.values()))
    entries = results["new"]["entries"]
    assert f"| new | {entries} | 120 | 50 |" in text
    assert f"| celery | {entries} | 120 | 50 |" in text
