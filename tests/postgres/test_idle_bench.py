"""``python -m bench.sql_idle`` measures every part of an idle tick (a smoke run, no timing
asserted)."""

from __future__ import annotations

from bench.sql_idle import measure, report

from tests.support.postgres_server import PostgresServer


def test_the_idle_tick_bench_reports_each_part(postgres_server: PostgresServer) -> None:
    result = measure(postgres_server.url, 20, 10)
    for part in ("tick", "claim_due", "select_1"):
        assert set(result[part]) == {"wall_median_ms", "cpu_ms"}, part
    generic, custom = result["server"]["claim_plans"]
    assert generic + custom > 5  # psycopg prepared the claim on the store's connection
    assert "Scheduler.tick()" in report(result)
