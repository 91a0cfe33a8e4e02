"""The SQL benchmark's table, its budget checks (issue 18) and its section of RESULTS.md.

The section sits between :data:`START` and :data:`END` (HTML comments, invisible in the
rendered page), so the Redis benchmark can regenerate the rest of the file and keep it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

START = "<!-- bench.sql results: start (python -m bench.sql --results-md; keep this block) -->"
END = "<!-- bench.sql results: end -->"
NAMES = {
    "postgres": "beatcore PostgreSQL",
    "redis": "beatcore Redis",
    "django": "django-celery-beat",
}

Figure = dict[str, Any]


def _get(document: dict[str, Any], side: str, n: int, key: str) -> Figure | None:
    figure: Figure | None = document["results"].get(side, {}).get(str(n), {}).get(key)
    return figure


def _rate(figure: Figure | None) -> float | None:
    if not figure:
        return None
    return float(figure["per_second"])


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _cells(
    document: dict[str, Any], n: int, key: str, value: Callable[[Figure], float | None]
) -> list[tuple[float | None, str]]:
    cells = []
    for side in NAMES:
        figure = _get(document, side, n, key)
        number = value(figure) if figure else None
        text = _num(number)
        if figure and (figure.get("complete") is False or "estimated_from" in figure):
            text += " *"
        cells.append((number, text))
    return cells


#: (label, result key, the figure, higher is better)
_ROWS: list[tuple[str, str, Callable[[Figure], float | None], bool]] = [
    ("startup cold (s)", "startup_cold", lambda f: f["seconds"], False),
    ("startup cold: round trips", "startup_cold", lambda f: f["round_trips"], False),
    ("startup warm (s)", "startup_warm", lambda f: f["seconds"], False),
    ("startup warm: round trips", "startup_warm", lambda f: f["round_trips"], False),
    ("idle tick (ms)", "tick_idle", lambda f: f["seconds"] * 1000, False),
    ("idle tick: round trips", "tick_idle", lambda f: f["round_trips"], False),
    ("dispatch all, no publish (entries/s)", "dispatch", _rate, True),
    (
        "dispatch: round trips per tick",
        "dispatch",
        lambda f: f["counted"]["round_trips"] / max(1, f["counted"]["ticks"]),
        False,
    ),
    ("dispatch all, Redis broker (entries/s)", "dispatch_publish", _rate, True),
    ("change seen, median (ms)", "latency", lambda f: f["median"] * 1000, False),
    ("change seen, max (ms)", "latency", lambda f: f["max"] * 1000, False),
]


def _ratio(ours: float | None, theirs: float | None, higher_better: bool) -> str:
    if not ours or not theirs:
        return "—"
    ratio = ours / theirs if higher_better else theirs / ours
    return f"{ratio:,.1f}x" if ratio < 100 else f"{ratio:,.0f}x"


def rows(document: dict[str, Any]) -> list[list[str]]:
    """The table's rows: measure, N, the three sides, PostgreSQL vs django-celery-beat and vs
    Redis (how many times better beatcore on PostgreSQL is)."""
    out = []
    for label, key, value, higher in _ROWS:
        for n in document["sizes"]:
            cells = _cells(document, n, key, value)
            if all(number is None for number, _ in cells):
                continue
            pg, redis, django = (number for number, _ in cells)
            out.append(
                [label, f"{n:,}", *(text for _, text in cells),
                 _ratio(pg, django, higher), _ratio(pg, redis, higher)]
            )  # fmt: skip
    return out


_HEADER = ["measure", "N", *NAMES.values(), "PG vs django", "PG vs Redis"]


def table(document: dict[str, Any]) -> str:
    """The table as Markdown."""
    lines = ["| " + " | ".join(_HEADER) + " |", "| --- | ---: |" + " ---: |" * 5]
    lines += ["| " + " | ".join(row) + " |" for row in rows(document)]
    return "\n".join(lines)


def _at(document: dict[str, Any], wanted: int) -> int:
    sizes: list[int] = document["sizes"]
    return wanted if wanted in sizes else max(sizes)


def budgets(document: dict[str, Any]) -> dict[str, Any]:
    """Issue 18's budgets checked on this run: ``{"checks": [...], "lines": [...]}``."""
    sizes: list[int] = document["sizes"]
    at = _at(document, 10_000)
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool | None, detail: str) -> None:
        checks.append({"budget": name, "met": ok, "detail": detail})

    idle = {n: _get(document, "postgres", n, "tick_idle") for n in sizes}
    trips = {n: f["round_trips"] for n, f in idle.items() if f}
    check(
        "idle tick one round trip at every N",
        bool(trips) and all(t == 1 for t in trips.values()),
        ", ".join(f"{n:,}: {t}" for n, t in trips.items()),
    )
    at_idle = idle.get(at)
    check(
        f"idle tick under 1 ms at {at:,}",
        None if not at_idle else at_idle["seconds"] < 0.001,
        "—" if not at_idle else f"{at_idle['seconds'] * 1000:.3f} ms",
    )
    timed = {n: f["seconds"] for n, f in idle.items() if f}
    if len(timed) > 1:
        low, high = timed[min(timed)], timed[max(timed)]
        check(
            "idle tick flat in N (largest N within 2x of the smallest)",
            high <= 2 * low,
            f"{low * 1000:.3f} ms at {min(timed):,}, {high * 1000:.3f} ms at {max(timed):,}",
        )
    for key, what in (("dispatch", "publish excluded"), ("dispatch_publish", "Redis broker")):
        pg = _rate(_get(document, "postgres", at, key))
        django_figure = _get(document, "django", at, key)
        django = _rate(django_figure)
        redis = _rate(_get(document, "redis", at, key))
        if pg and django:
            note = (
                ""
                if django_figure and django_figure["complete"]
                else " (django-celery-beat's rate over its budget)"
            )
            check(
                f"dispatch ({what}) >= 100x django-celery-beat at {at:,}",
                pg >= 100 * django,
                f"{pg:,.0f}/s vs {django:,.1f}/s: {pg / django:,.0f}x{note}",
            )
        if pg and redis:
            check(
                f"dispatch ({what}) within 2x of the Redis store at {at:,}",
                redis <= 2 * pg,
                f"{pg:,.0f}/s vs Redis {redis:,.0f}/s: Redis/PG = {redis / pg:.2f}",
            )
    for n in sizes:
        latency = _get(document, "postgres", n, "latency")
        if latency:
            check(
                f"change seen within 0.5 s (median) at {n:,}",
                latency["median"] <= 0.5,
                f"median {latency['median'] * 1000:.0f} ms, max {latency['max'] * 1000:.0f} ms"
                f" over {latency['changes']} changes",
            )
    lines = []
    for item in checks:
        mark = {True: "MET", False: "MISSED", None: "NOT RUN"}[item["met"]]
        lines.append(f"- {mark}: {item['budget']} ({item['detail']})")
    return {"checks": checks, "lines": lines}


def _estimates(document: dict[str, Any]) -> list[str]:
    notes = []
    for n in document["sizes"]:
        for key, what in (
            ("dispatch", "dispatch, no publish"),
            ("dispatch_publish", "dispatch, Redis broker"),
        ):
            figure = _get(document, "django", n, key)
            if figure and not figure["complete"]:
                notes.append(
                    f"django-celery-beat {what} at N = {n:,}: sent {figure['sent']:,} of "
                    f"{n:,} in its {figure['seconds']:.0f} s budget (its first tick, which "
                    f"reloads the schedule, took {figure['first_tick_seconds']:.1f} s); at "
                    f"the rate of the ticks after it all {n:,} would take about "
                    f"{figure['estimated_seconds']:,.0f} s, {figure['per_second']:.1f}/s"
                )
        skipped = _get(document, "django", n, "latency_skipped")
        if skipped:
            notes.append(
                f"django-celery-beat change seen at N = {n:,}: not measured (every change "
                f"makes it reload all rows; it is measured up to N = {skipped['largest_n']:,})"
            )
        for key in ("startup_cold", "startup_warm"):
            figure = _get(document, "django", n, key)
            if figure and "estimated_from" in figure:
                notes.append(
                    f"django-celery-beat {key.replace('_', ' ')} at N = {n:,}: not run, "
                    f"estimated {figure['seconds']:,.0f} s from its per-entry cost at "
                    f"N = {figure['estimated_from']:,}"
                )
    return notes


def markdown(document: dict[str, Any]) -> str:
    """The RESULTS.md section of this run, markers included."""
    m = document["machine"]
    estimates = _estimates(document)
    parts = [
        START,
        "## PostgreSQL: beatcore against django-celery-beat (`python -m bench.sql`)",
        "",
        f"Run finished {document['date']} ({document['total_seconds']:.0f} s in all), at "
        f"commit {document['commit']}; PostgreSQL {m.get('postgresql')}, django-celery-beat "
        f"{m.get('django-celery-beat')} (Django {m.get('Django')}), psycopg "
        f"{m.get('psycopg')}, celery {m.get('celery')}, redis-server {m.get('redis-server')}, "
        f"Python {m.get('python')}, {m.get('nproc')} cores ({m.get('cpu')}), shared with "
        "other work: single timings ±20 %, round trips exact.",
        "",
        "All three sides run in one run on the same machine: beatcore on its PostgreSQL store "
        "and django-celery-beat's `DatabaseScheduler` (a real Django project, its tables made "
        "by its own migrations, persistent connections) on the same PostgreSQL server, and "
        'beatcore on its Redis store for the "within 2x of Redis" budget. *Publish excluded* '
        "replaces `send_task` on the scheduler with a counting no-op on every side; *Redis "
        "broker* publishes to a real redis-server and checks the queue. Ratios: how many "
        "times better beatcore on PostgreSQL is. Round trips are counted in libpq's protocol "
        "trace in a separate, untimed run. *Change seen*: a real `celery beat` process, "
        "`beat_max_loop_interval` at its default, one entry made due by another process "
        "(beatcore `store.trigger`, django-celery-beat a `PeriodicTask` saved through its "
        "model), timed until its task is in the broker.",
        "",
        f"A figure marked * is django-celery-beat's over its time budget "
        f"({document['django_budget']:.0f} s per timed loop, `--django-budget`): it sends "
        "one entry per tick and compares its whole schedule at each, so its dispatch loop "
        "is stopped at the budget and its rate then is reported; a startup that would "
        "exceed the budget is not run and is estimated from its per-entry cost at the "
        "largest N measured before it (at first a probe at N = 100):",
        "",
        *(f"- {note}" for note in estimates),
        *([] if estimates else ["- (none in this run)"]),
        "",
        table(document),
        "",
        "Budgets (issue 18):",
        "",
        *document["budgets"]["lines"],
        END,
    ]
    return "\n".join(parts) + "\n"


def write_section(path: Path, section: str) -> None:
    """Put ``section`` between the markers in ``path`` (appended when they are missing)."""
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
