"""A small-N run of ``python -m bench``: the harness must never break.

Real redis-servers, real schedulers, real publishing; no timing is asserted, only the counts
that do not drift from run to run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bench import idle_pair, run
from bench.idle_pair import SIDES, idle_table
from bench.reference import REFERENCE, ReferenceUnavailable, extract
from bench.report import budgets, figure, markdown, table

SIZES = (20, 60)
#: Seconds without a leader before the catch-up tick (the full run uses three hours).
CATCH_UP_DOWN = 600
#: Rounds of interleaved idle ticks (the full run: bench.interleave.ROUNDS).
IDLE_ROUNDS = 6

pytestmark = pytest.mark.redis_server


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    code = run.main(
        [
            "--sizes", ",".join(str(n) for n in SIZES),
            "--repeats", "1",
            "--idle-repeats", "3",
            "--catch-up-down", str(CATCH_UP_DOWN),
            "--idle-rounds", str(IDLE_ROUNDS),
            "--idle-pause", "0",
            "--out-dir", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded: dict[str, Any] = json.loads((out / "results.json").read_text())
    return loaded


def beatcore(document: dict[str, Any], label: str) -> list[float | None]:
    return [figure(document, "beatcore", n, label) for n in SIZES]


def test_both_sides_ran_every_size(document: dict[str, Any]) -> None:
    for side in ("beatcore", "redbeat"):
        assert sorted(int(n) for n in document["results"][side]) == list(SIZES)


def test_every_due_entry_was_sent_and_every_message_reached_the_broker(
    document: dict[str, Any],
) -> None:
    for side in ("beatcore", "redbeat"):
        for n in SIZES:
            figures = document["results"][side][str(n)]
            assert figures["dispatch"]["due"] == n
            assert figures["dispatch_publish"]["queued"] == n
            assert figures["tick_1pct"]["due"] == max(1, n // 100)


def test_beatcore_idle_tick_is_one_round_trip(document: dict[str, Any]) -> None:
    assert beatcore(document, "idle tick: round trips") == [1, 1]


def test_beatcore_startup_round_trips_do_not_grow_with_n(document: dict[str, Any]) -> None:
    for kind in ("cold", "warm"):
        small, large = beatcore(document, f"startup {kind}: round trips")
        assert small == large


def test_beatcore_round_trips_per_tick_do_not_grow_with_the_number_due(
    document: dict[str, Any],
) -> None:
    per_tick = beatcore(document, "tick, 1% due: round trips per tick") + beatcore(
        document, "dispatch all, no publish: round trips per tick"
    )
    assert len(set(per_tick)) == 1


def test_redbeat_round_trips_grow_with_what_it_loads(document: dict[str, Any]) -> None:
    # RedBeat reads and writes each due entry separately: the comparison is against that.
    small, large = (
        figure(document, "redbeat", n, "dispatch all, no publish: round trips per tick")
        for n in SIZES
    )
    assert small is not None and large is not None and large > small


def test_table_and_budgets_cover_both_sides(document: dict[str, Any]) -> None:
    text = table(document)
    assert "idle tick: round trips" in text
    assert "RedBeat" in text.splitlines()[0]
    checks = {c["budget"]: c for c in budgets(document)}
    assert checks["idle tick: 1 round trip"]["met"] is True
    assert checks["round trips per tick constant in the number due"]["met"] is True


def test_bad_sizes_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        run.main(["--sizes", "0", "--out-dir", str(tmp_path)])
    assert "--sizes must be positive" in capsys.readouterr().err


def test_the_catch_up_tick_logs_and_calls_listeners_once_per_entry(
    document: dict[str, Any],
) -> None:
    """Five 1-second entries after 600 s down: 5 sent, 5 x 599 skipped, 5 WARNING lines, and
    5 calls of each skip hook (the batch one and the deprecated one), not 2,995."""
    for n in SIZES:
        catch_up = document["results"]["beatcore"][str(n)]["catch_up"]
        assert (catch_up["entries"], catch_up["sent"]) == (5, 5)
        assert catch_up["skipped"] == 5 * (CATCH_UP_DOWN - 1)
        assert catch_up["warning_lines"] == 5
        assert catch_up["listener_calls"] == 10
        assert catch_up["round_trips"] == 2, "one claim, one ack"
    assert "catch-up tick after downtime (ms)" in table(document)
    assert all("catch_up" not in document["results"]["redbeat"][str(n)] for n in SIZES)


def test_beatcore_saves_cost_one_round_trip_each_and_a_batch_a_constant(
    document: dict[str, Any],
) -> None:
    """Per entry beyond the first N (the first save of a connection also loads the script):
    a save is one round trip, a changed save (same timing) by a connection that never read
    it one too; a save_many costs the same at both N."""
    small, large = SIZES
    runs = document["results"]["beatcore"]
    for key, per_entry in (("store", 1), ("update", 1)):
        counts = [runs[str(n)][key]["round_trips"] for n in SIZES]
        assert (counts[1] - counts[0]) / (large - small) == per_entry, (key, counts)
    batches = beatcore(document, "save_many: round trips")
    assert batches[0] == batches[1], batches
    assert "save_many (entries/s; RedBeat: save per entry)" in table(document)


def test_the_idle_ticks_of_both_sides_are_interleaved_with_their_own_counts(
    document: dict[str, Any],
) -> None:
    """At each N both sides' idle ticks ran in one process, once a round each: as many ticks
    as rounds, each with the round trips and commands of that side's own idle tick (beatcore
    1 round trip, RedBeat 2), and one paired ratio per round."""
    for n in SIZES:
        pair = document["idle_interleaved"][str(n)]
        assert (pair["n"], pair["rounds"]) == (n, IDLE_ROUNDS)
        assert pair["paired"]["rounds"] == IDLE_ROUNDS
        for side, trips in (("beatcore", 1), ("redbeat", 2)):
            figures = document["results"][side][str(n)]
            interleaved = figures["tick_idle_interleaved"]
            assert len(interleaved["ms_all"]) == IDLE_ROUNDS
            assert interleaved["round_trips"] == interleaved["round_trips_max"] == trips
            assert interleaved["commands"] == interleaved["commands_max"]
            assert interleaved["commands"] == figures["tick_idle"]["commands"], side


def test_the_idle_tick_rows_and_budget_read_the_interleaved_figures(
    document: dict[str, Any],
) -> None:
    label = "idle tick, interleaved (ms, median)"
    for n in SIZES:
        interleaved = document["results"]["beatcore"][str(n)]["tick_idle_interleaved"]
        assert figure(document, "beatcore", n, label) == interleaved["ms_median"]
    checks = [c for c in budgets(document) if c["budget"].startswith("idle tick, N=")]
    assert len(checks) == 1 and checks[0]["met"] in (True, False)
    assert "time, interleaved:" in checks[0]["detail"]
    assert "paired ratio" in checks[0]["detail"]
    assert idle_table(document) in markdown({**document, "budgets": budgets(document)})


def test_no_interleaved_rounds_leave_the_idle_time_unmeasured(tmp_path: Path) -> None:
    """With --idle-rounds 0 (and one side) no pair runs, and the budget says so."""
    code = run.main(
        ["--sizes", "20", "--repeats", "1", "--idle-repeats", "1", "--sides", "beatcore",
         "--idle-rounds", "0", "--catch-up-down", "60", "--no-chart", "--out-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["idle_interleaved"] == {}
    checks = [c for c in document["budgets"] if c["budget"].startswith("idle tick, N=")]
    assert checks[0]["met"] is None
    assert "not measured interleaved" in checks[0]["detail"]


def test_the_interleaved_idle_ticks_run_on_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m bench.idle_pair --sizes ...`` starts its own servers and prints the table."""
    out = tmp_path / "idle.json"
    arguments = ["--sizes", "30", "--rounds", "4", "--pause", "0", "--out", str(out)]
    assert idle_pair.main(arguments) == 0
    document = json.loads(out.read_text())
    assert document["idle_interleaved"]["30"]["paired"]["rounds"] == 4
    trips = [document["results"][s]["30"]["tick_idle_interleaved"]["round_trips"] for s in SIDES]
    assert trips == [1, 2]
    assert "| 30 | 4 |" in capsys.readouterr().out


def test_the_interleaved_idle_ticks_need_one_n_with_servers_or_sizes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        idle_pair.main(["--sizes", "30", "--n", "30"])
    assert "give --n with --schedule-port" in capsys.readouterr().err


def test_the_reference_tree_ran_beside_beatcore_at_every_size(document: dict[str, Any]) -> None:
    """Issue 17's tree (bench.reference.REFERENCE) is measured by its own harness in the same
    run: every due entry reached the broker, and the 3x budget is judged at each size."""
    reference = document["reference"]
    assert reference["revision"] == REFERENCE
    assert "commit" in reference, reference.get("unavailable")  # a shallow clone lacks it
    assert reference["commit"].startswith(REFERENCE)
    assert "failed" not in reference
    assert sorted(int(n) for n in reference["results"]) == list(SIZES)
    for n in SIZES:
        assert reference["results"][str(n)]["dispatch_publish"]["queued"] == n
    checks = [c for c in budgets(document) if c["budget"].startswith("real publishing >= 3x")]
    assert [c["met"] is None for c in checks] == [False, False]
    assert f"| real publishing | {SIZES[0]:,} |" in markdown(document)


def test_a_reference_not_in_the_history_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReferenceUnavailable, match="commit no-such-commit is not in the history"):
        extract("no-such-commit", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_reference_whose_harness_fails_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    """The repository's first commit has no ``bench``: its worker fails, the failure is kept
    with its N and the run still writes its results (nothing measured before is lost)."""
    root = subprocess.run(
        ["git", "rev-list", "--max-parents=0", "HEAD"],
        cwd=Path(run.__file__).parent, capture_output=True, text=True, check=True,
    ).stdout.split()[0]  # fmt: skip
    code = run.main(
        [
            "--sizes", "20", "--repeats", "1", "--idle-repeats", "2", "--sides", "beatcore",
            "--idle-rounds", "0", "--no-chart", "--catch-up-down", "60",
            "--reference", root, "--out-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["results"]["beatcore"]["20"]["dispatch_publish"]["queued"] == 20
    assert list(document["reference"]["failed"]) == ["20"]
    assert "No module named" in document["reference"]["failed"]["20"]
    (check,) = [c for c in document["budgets"] if c["budget"].startswith("real publishing >= 3x")]
    assert check["met"] is None and check["budget"].endswith(f"({root}), same run, N=20")
