"""``python -m bench.status`` runs both forms of the health check (no timing asserted)."""

from __future__ import annotations

from bench import status


def test_status_bench_runs_both_forms_healthy() -> None:
    result = status.measure(repeats=1, entries=3)
    for form in ("celery -A APP beatcore status", "beatcore -A APP status"):
        assert result[form]["exit_codes"] == [0], result
        assert result[form]["cpu_s"] > 0
