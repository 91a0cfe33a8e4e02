"""A small-N run of ``python -m bench.save_pair``: both sides' changed saves interleaved, with
a PING and beatcore's recorded script calls sent again as the ceilings.

Real redis-server, both sides' public APIs; no timing is asserted, only the counts that do not
drift.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from bench import save_pair
from bench.save_pair import CEILINGS
from bench.servers import RedisServer
from bench.sides import PERIOD, TASK

import beatcore
from beatcore import Entry, Interval

pytestmark = pytest.mark.redis_server


def test_each_changed_save_is_one_round_trip_on_both_sides() -> None:
    result = save_pair.measure(50, 20)
    assert (result["n"], result["rounds"]) == (50, 20)
    assert set(result["sides"]) == set(result["cpu_us"]) == {"beatcore", "redbeat", *CEILINGS}
    for side, figures in result["sides"].items():
        assert len(figures["ms_all"]) == 20
        assert (figures["round_trips"], figures["round_trips_max"]) == (1, 1), side
        assert result["cpu_us"][side] > 0, side
    # a PING runs one command; a replayed save is the script call beatcore's save makes
    assert result["sides"]["ping"]["commands_max"] == 1
    assert result["sides"]["replay"]["commands"] == result["sides"]["beatcore"]["commands"]
    assert set(result["ceilings"]) == set(CEILINGS)
    for pair in (result["paired"], *result["ceilings"].values()):
        assert pair["rounds"] == 20
        assert pair["ci95"][0] <= pair["median"] <= pair["ci95"][1]


def test_the_replayed_calls_are_the_changed_saves_script_calls() -> None:
    names = ["a", "b", "c"]
    with RedisServer("schedule") as server:
        url = f"{server.url}/0"
        store = beatcore.connect(url)
        store.save_many(Entry(name=name, task=TASK, schedule=Interval(PERIOD)) for name in names)
        store.close()
        calls = save_pair._changed_save_calls(url, server.port, names)
        store = beatcore.connect(url)
        assert [store.get(name).args for name in names] == [(2,), (2,), (2,)]
        store.close()
    assert len(calls) == 6 and all(b"EVALSHA" in call[:40] for call in calls)
    for number, call in enumerate(calls):
        assert f'"{names[number % 3]}"'.encode() in call
        assert f'"args":[{1 + number // 3}]'.encode() in call


def test_the_command_line_prints_the_paired_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert save_pair.main(["--n", "30", "--rounds", "10"]) == 0
    out = capsys.readouterr().out
    assert "beatcore: changed save" in out and "redbeat: changed save" in out
    assert "paired ratio" in out
    assert "RedBeat / ping: paired ratio" in out and "RedBeat / replay: paired ratio" in out
    assert "not pinned" in out


def test_bad_sizes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        save_pair.main(["--rounds", "0"])
    assert "--n must be at least 3 and --rounds positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        save_pair.main(["--n", "2"])
    with pytest.raises(ValueError, match="need n >= 3"):
        save_pair.measure(2, 10)


def test_pinned_rounds_run_on_the_cpu_asked_and_give_the_cpus_back() -> None:
    cpu = save_pair.allowed_cpus()[-1]
    before = os.sched_getaffinity(0)
    seen: list[set[int]] = []
    real_interleave = save_pair.interleave

    def watching(*args: Any, **kwargs: Any) -> Any:
        seen.append(os.sched_getaffinity(0))
        return real_interleave(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(save_pair, "interleave", watching)
        result = save_pair.measure(30, 5, cpu)
    assert result["cpu"] == cpu and seen == [{cpu}]
    assert os.sched_getaffinity(0) == before
    assert all(figures["round_trips"] == 1 for figures in result["sides"].values())


def test_pinning_keeps_the_server_on_its_cpu_and_restores_it() -> None:
    cpu = save_pair.allowed_cpus()[0]
    with RedisServer("schedule") as server:
        before = os.sched_getaffinity(server.pid)
        with save_pair._pinned(server.pid, cpu):
            assert os.sched_getaffinity(server.pid) == {cpu} == os.sched_getaffinity(0)
        assert os.sched_getaffinity(server.pid) == before


def test_a_cpu_this_process_may_not_use_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    outside = max(save_pair.allowed_cpus()) + 1
    with pytest.raises(SystemExit):
        save_pair.main(["--n", "30", "--rounds", "1", "--cpu", str(outside)])
    assert f"--cpu must be one of {save_pair.allowed_cpus()}" in capsys.readouterr().err
    with pytest.raises(ValueError, match=f"CPU {outside} is not one"):
        save_pair.measure(30, 1, outside)
