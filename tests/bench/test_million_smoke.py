"""A small-N run of ``python -m bench.million``: the counts that must not grow with N."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench import million
from bench.million_idle import STATIC, idle_text

SIZES = (50, 200)
ROUNDS = 6

pytestmark = pytest.mark.redis_server


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: Path = tmp_path_factory.mktemp("million") / "million.json"
    arguments = ["--sizes", ",".join(str(n) for n in SIZES), "--out", str(out)]
    assert million.main([*arguments, "--rounds", str(ROUNDS), "--pause", "0"]) == 0
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_the_idle_tick_the_warm_start_and_the_status_do_not_grow_with_n(
    document: dict[str, Any],
) -> None:
    runs = [document["results"][str(n)] for n in SIZES]
    assert [r["idle_tick_round_trips"] for r in runs] == [1, 1]
    for key in ("idle_tick_commands", "warm_start_round_trips", "status_round_trips"):
        assert runs[0][key] == runs[1][key], key
    for r in runs:
        assert 0 < r["warm_start_seconds"] <= r["warm_start_seconds_max"]
    for verb in million.CLI_VERBS:  # status, list and export, each a process of its own
        assert all(r[f"{verb}_cli_exit"] == 0 for r in runs), verb
        assert all(r[f"{verb}_cli_peak_rss_mb"] > 0 for r in runs), verb
    assert [r["status_entry_count"] for r in runs] == [n + STATIC for n in SIZES]


def test_the_memory_of_each_key_is_reported(document: dict[str, Any]) -> None:
    by_key = document["results"][str(SIZES[-1])]["memory_by_key"]
    assert {"{beatcore}:defs (hash)", "{beatcore}:states (hash)", "{beatcore}:due (zset)"} <= set(
        by_key
    )
    assert "| memory_per_entry |" in million.table(document)


def test_the_idle_ticks_of_every_n_are_interleaved_with_the_same_counts(
    document: dict[str, Any],
) -> None:
    """Every N's leader ticked once a round against its own store (its database), with the
    round trips and commands of the idle ticks counted alone; each larger N compared round by
    round with the smallest."""
    idle = document["idle_interleaved"]
    assert (idle["rounds"], idle["reference_n"]) == (ROUNDS, SIZES[0])
    for n in SIZES:
        spread, alone = idle["spread"][str(n)], document["results"][str(n)]
        assert spread["rounds"] == len(spread["ms_all"]) == ROUNDS
        assert spread["round_trips"] == spread["round_trips_max"] == 1
        assert spread["commands"] == spread["commands_max"] == alone["idle_tick_commands"]
        assert alone["idle_tick_ms"] == spread["ms_median"]
    assert list(idle["paired"]) == [str(SIZES[1])]
    assert idle["paired"][str(SIZES[1])]["rounds"] == ROUNDS
    text = idle_text(document)
    assert f"against N={SIZES[0]:,}" in text
    assert "| idle_tick_paired_ratio |" in million.table(document)


def test_a_size_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="distinct sizes"):
        million.run([50, 50])
