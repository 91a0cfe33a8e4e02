"""A small-N run of ``python -m bench.save_pair``: both sides' changed saves interleaved.

Real redis-server, both sides' public APIs; no timing is asserted, only the counts that do not
drift.
"""

from __future__ import annotations

import pytest
from bench import save_pair

pytestmark = pytest.mark.redis_server


def test_each_changed_save_is_one_round_trip_on_both_sides() -> None:
    result = save_pair.measure(50, 20)
    assert (result["n"], result["rounds"]) == (50, 20)
    for side in ("beatcore", "redbeat"):
        figures = result["sides"][side]
        assert len(figures["ms_all"]) == 20
        assert (figures["round_trips"], figures["round_trips_max"]) == (1, 1), side
    pair = result["paired"]
    assert pair["ci95"][0] <= pair["median"] <= pair["ci95"][1]


def test_the_command_line_prints_the_paired_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert save_pair.main(["--n", "30", "--rounds", "10"]) == 0
    out = capsys.readouterr().out
    assert "beatcore: changed save" in out and "redbeat: changed save" in out
    assert "paired ratio" in out


def test_bad_sizes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        save_pair.main(["--rounds", "0"])
    assert "--n and --rounds must be positive" in capsys.readouterr().err
