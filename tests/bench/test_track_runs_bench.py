"""``python -m bench.track_runs`` at a small N: the worker's store calls are counted (no
timing asserted)."""

from __future__ import annotations

from bench import track_runs


def test_tracking_costs_one_round_trip_per_start_and_end_and_nothing_when_off() -> None:
    result = track_runs.measure(tasks=5, repeats=2)
    assert result["handlers_connected_when_off"] == 0, result
    assert result["round_trips_untracked"] == 0, result
    assert result["round_trips_per_start"] == 1.0, result
    assert result["round_trips_per_end"] == 1.0, result
    assert result["transactions_per_report"] == 1.0, result
    assert result["last_status"] == "succeeded", result
