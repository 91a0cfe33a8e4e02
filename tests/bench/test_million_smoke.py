"""A small-N run of ``python -m bench.million``: the counts that must not grow with N."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench import million

SIZES = (50, 200)

pytestmark = pytest.mark.redis_server


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: Path = tmp_path_factory.mktemp("million") / "million.json"
    assert million.main(["--sizes", ",".join(str(n) for n in SIZES), "--out", str(out)]) == 0
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_the_idle_tick_the_warm_start_and_the_status_do_not_grow_with_n(
    document: dict[str, Any],
) -> None:
    runs = [document["results"][str(n)] for n in SIZES]
    assert [r["idle_tick_round_trips"] for r in runs] == [1, 1]
    for key in ("idle_tick_commands", "warm_start_round_trips", "status_round_trips"):
        assert runs[0][key] == runs[1][key], key
    for verb in million.CLI_VERBS:  # status, list and export, each a process of its own
        assert all(r[f"{verb}_cli_exit"] == 0 for r in runs), verb
        assert all(r[f"{verb}_cli_peak_rss_mb"] > 0 for r in runs), verb
    assert [r["status_entry_count"] for r in runs] == [n + million.STATIC for n in SIZES]


def test_the_memory_of_each_key_is_reported(document: dict[str, Any]) -> None:
    by_key = document["results"][str(SIZES[-1])]["memory_by_key"]
    assert {"{beatcore}:defs (hash)", "{beatcore}:states (hash)", "{beatcore}:due (zset)"} <= set(
        by_key
    )
    assert "| memory_per_entry |" in million.table(document)
