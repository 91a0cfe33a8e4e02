"""A small-N run of ``python -m bench.sql``: the harness must never break.

A real PostgreSQL server, real redis-servers, a real Django project with django-celery-beat's
migrations, real schedulers, real publishing and a real ``celery beat`` process; no timing is
asserted, only the counts that do not drift from run to run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench import sql
from bench.sql_report import END, START, markdown, write_section

pytest.importorskip("django_celery_beat")

SIZES = (20, 60)
SIDES = ("postgres", "redis", "django")

# Real celery beat processes (the latency scenario) and three minutes in all: end to end. The
# whole benchmark runs in the module's fixture, which counts against its first test's timeout:
# 45 s alone on a quiet machine, over 300 s on 2 cores loaded by other jobs and other workers.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.redis_server,
    pytest.mark.postgres_server,
    pytest.mark.timeout(900),
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-sql") / "sql_results.json"
    code = sql.main(
        [
            "--sizes", ",".join(str(n) for n in SIZES),
            "--repeats", "1",
            "--idle-repeats", "3",
            "--latency-sides", "postgres",
            "--changes", "2",
            "--django-budget", "300",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def figures(document: dict[str, Any], side: str, n: int) -> dict[str, Any]:
    found: dict[str, Any] = document["results"][side][str(n)]
    return found


def test_every_side_ran_every_size(document: dict[str, Any]) -> None:
    for side in SIDES:
        assert sorted(int(n) for n in document["results"][side]) == list(SIZES)


def test_every_due_entry_was_sent_and_every_message_reached_the_broker(
    document: dict[str, Any],
) -> None:
    for side in SIDES:
        for n in SIZES:
            found = figures(document, side, n)
            for key in ("dispatch", "dispatch_publish"):
                assert (found[key]["due"], found[key]["sent"], found[key]["complete"]) == (
                    n,
                    n,
                    True,
                ), (side, n, key)
            assert found["dispatch_publish"]["queued"] == n


def test_beatcore_ticks_cost_what_the_budgets_say_in_round_trips(
    document: dict[str, Any],
) -> None:
    for n in SIZES:
        postgres = figures(document, "postgres", n)
        assert postgres["tick_idle"]["round_trips"] == 1
        assert postgres["dispatch"]["counted"]["ticks"] == 1  # all n due in one batch
        assert postgres["dispatch"]["counted"]["round_trips"] == 2  # claim, ack
        assert figures(document, "redis", n)["tick_idle"]["round_trips"] == 1
    for kind in ("startup_cold", "startup_warm"):
        trips = {figures(document, "postgres", n)[kind]["round_trips"] for n in SIZES}
        assert len(trips) == 1, (kind, trips)  # the same at every N


def test_django_celery_beat_sends_one_entry_per_tick(document: dict[str, Any]) -> None:
    for n in SIZES:
        counted = figures(document, "django", n)["dispatch"]["counted"]
        assert counted["ticks"] >= counted["due"]


def test_changes_reach_a_sleeping_beat(document: dict[str, Any]) -> None:
    for n in SIZES:
        assert figures(document, "postgres", n)["latency"]["changes"] == 2
        assert "latency" not in figures(document, "django", n)


def test_the_results_section_replaces_only_itself(document: dict[str, Any], tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# Redis\n\nbefore\n\n{START}\nstale section\n{END}\n\nafter\n")
    write_section(results, markdown(document))
    text = results.read_text()
    assert text.startswith("# Redis\n\nbefore\n\n" + START)
    assert text.endswith(END + "\n\nafter\n")
    assert "stale section" not in text and "| idle tick: round trips | 20 |" in text
    write_section(results, markdown(document))
    assert results.read_text() == text
