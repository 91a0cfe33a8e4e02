"""The table (measure | N | beatcore | RedBeat | ratio) and the budget checks of issues 6 and
17 (the reference tree's, from :mod:`bench.reference`).

Ratio is always "how many times better beatcore is": RedBeat ÷ beatcore for costs (time,
round trips, commands, memory), beatcore ÷ RedBeat for throughputs. Above 1, beatcore wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.idle_pair import SIDES, idle_table, ms_spread
from bench.interleave import describe, no_slower
from bench.reference import rate, reference_checks, reference_table

Figures = Mapping[str, Any]


def _per_tick(key: str) -> Callable[[Figures], float]:
    return lambda r: float(r[key]["round_trips"]) / max(float(r[key].get("ticks", 1)), 1.0)


def _rate(key: str) -> Callable[[Figures], float]:
    return lambda r: rate(r, key)


def _per_entry(key: str, name: str) -> Callable[[Figures], float]:
    return lambda r: float(r[key][name]) / float(r[key]["n"])


def _field(key: str, name: str, scale: float = 1.0) -> Callable[[Figures], float]:
    return lambda r: float(r[key][name]) * scale


#: (label, extractor, higher_is_better)
ROWS: list[tuple[str, Callable[[Figures], float], bool]] = [
    ("store N entries (s)", _field("store", "seconds"), False),
    ("store: round trips", _field("store", "round_trips"), False),
    ("store: server commands", _field("store", "commands"), False),
    ("save: round trips per entry", _per_entry("store", "round_trips"), False),
    ("save: server commands per entry", _per_entry("store", "commands"), False),
    ("save changed (entries/s)", _rate("update"), True),
    ("save changed: round trips per entry", _per_entry("update", "round_trips"), False),
    ("save changed: server commands per entry", _per_entry("update", "commands"), False),
    ("save_many (entries/s; RedBeat: save per entry)", _rate("store_many"), True),
    ("save_many: round trips", _field("store_many", "round_trips"), False),
    ("save_many: server commands per entry", _per_entry("store_many", "commands"), False),
    ("Redis memory per entry (bytes)", _field("memory_per_entry", "bytes"), False),
    ("startup cold (s)", _field("startup_cold", "seconds"), False),
    ("startup cold: round trips", _field("startup_cold", "round_trips"), False),
    ("startup cold: server commands", _field("startup_cold", "commands"), False),
    ("startup warm (s)", _field("startup_warm", "seconds"), False),
    ("startup warm: round trips", _field("startup_warm", "round_trips"), False),
    ("startup warm: server commands", _field("startup_warm", "commands"), False),
    # the time from the interleaved measurement (bench.idle_pair), where both sides ran
    ("idle tick, interleaved (ms, median)", _field("tick_idle_interleaved", "ms_median"), False),
    ("idle tick, interleaved: p10 (ms)", _field("tick_idle_interleaved", "ms_p10"), False),
    ("idle tick, interleaved: p90 (ms)", _field("tick_idle_interleaved", "ms_p90"), False),
    # each side's 20 ticks in its own worker, minutes apart: not comparable across sides
    ("idle tick, own series, not paired (ms)", _field("tick_idle", "seconds", 1000.0), False),
    ("idle tick: round trips", _field("tick_idle", "round_trips"), False),
    ("idle tick: server commands", _field("tick_idle", "commands"), False),
    ("tick, 1% due (ms)", _field("tick_1pct", "seconds", 1000.0), False),
    ("tick, 1% due: round trips per tick", _per_tick("tick_1pct"), False),
    ("tick, 1% due: server commands", _field("tick_1pct", "commands"), False),
    ("dispatch all, no publish (entries/s)", _rate("dispatch"), True),
    ("dispatch all, no publish: round trips per tick", _per_tick("dispatch"), False),
    (
        "dispatch all, no publish: commands per entry",
        lambda r: float(r["dispatch"]["commands"]) / float(r["dispatch"]["n"]),
        False,
    ),
    ("dispatch all, publish (entries/s)", _rate("dispatch_publish"), True),
    ("dispatch all, publish: round trips per tick", _per_tick("dispatch_publish"), False),
    (
        "dispatch all, publish: broker round trips per entry",
        lambda r: (
            float(r["dispatch_publish"].get("broker_round_trips", 0))
            / float(r["dispatch_publish"]["n"])
        ),
        False,
    ),
    ("catch-up tick after downtime (ms)", _field("catch_up", "seconds", 1000.0), False),
    ("catch-up tick: WARNING lines", _field("catch_up", "warning_lines"), False),
    ("catch-up tick: skip listener calls", _field("catch_up", "listener_calls"), False),
    ("RSS after startup, N stored entries (MB)", _field("rss_idle", "mb"), False),
    ("RSS after startup, N static entries (MB)", _field("rss_startup_static", "mb"), False),
]


def figure(document: Mapping[str, Any], side: str, n: int, label: str) -> float | None:
    """Return one figure of the table, or None when that side did not run at ``n``."""
    runs = document["results"].get(side, {})
    figures = runs.get(str(n))
    if figures is None:
        return None
    for row_label, extract, _ in ROWS:
        if row_label == label:
            try:
                return extract(figures)
            except (KeyError, ZeroDivisionError):
                return None
    raise KeyError(f"no table row {label!r}")


def ratio(beatcore: float | None, redbeat: float | None, higher_is_better: bool) -> float | None:
    """Return how many times better beatcore is, or None when it cannot be said."""
    if beatcore is None or redbeat is None:
        return None
    if higher_is_better:
        return beatcore / redbeat if redbeat else None
    return redbeat / beatcore if beatcore else None


def fmt(value: float | None) -> str:
    """Format a figure with sensible precision."""
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if value == int(value):
        return f"{value:.0f}"
    return f"{value:.3g}"


def table(document: Mapping[str, Any], markdown: bool = False) -> str:
    """Return the side-by-side table as text (or Markdown)."""
    header = ("measure", "N", "beatcore", "RedBeat", "ratio")
    rows: list[tuple[str, ...]] = []
    for label, _, higher in ROWS:
        for n in document["sizes"]:
            b = figure(document, "beatcore", n, label)
            r = figure(document, "redbeat", n, label)
            if b is None and r is None:
                continue
            q = ratio(b, r, higher)
            rows.append((label, f"{n:,}", fmt(b), fmt(r), "—" if q is None else f"{q:.1f}x"))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    out = []
    for k, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _reference_n(document: Mapping[str, Any], wanted: int) -> int | None:
    """Return ``wanted`` if beatcore ran there, else the largest N beatcore ran."""
    ran = sorted(int(n) for n in document["results"].get("beatcore", {}))
    if not ran:
        return None
    return wanted if wanted in ran else ran[-1]


def _redbeat_at(document: Mapping[str, Any], n: int, label: str) -> tuple[float | None, str]:
    """Return RedBeat's figure at ``n``, or at its largest N when it was skipped there."""
    value = figure(document, "redbeat", n, label)
    if value is not None:
        return value, ""
    ran = sorted(int(k) for k in document["results"].get("redbeat", {}))
    if not ran:
        return None, " (RedBeat did not run)"
    return figure(document, "redbeat", ran[-1], label), f" (RedBeat at N={ran[-1]:,})"


def budgets(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Check the budgets of issues 6 and 17; each is ``{"budget", "met", "detail"}``."""
    checks: list[dict[str, Any]] = []
    sizes = sorted(int(n) for n in document["results"].get("beatcore", {}))

    def add(name: str, met: bool | None, detail: str) -> None:
        checks.append({"budget": name, "met": met, "detail": detail})

    n10 = _reference_n(document, 10_000)
    if n10 is None:
        return [{"budget": "all", "met": None, "detail": "beatcore did not run"}]
    for kind in ("cold", "warm"):
        label = f"startup {kind} (s)"
        b = figure(document, "beatcore", n10, label)
        r, note = _redbeat_at(document, n10, label)
        q = ratio(b, r, False)
        trips = [figure(document, "beatcore", n, f"startup {kind}: round trips") for n in sizes]
        constant = len(set(trips)) == 1
        add(
            f"startup {kind}, N={n10:,}: >= 15x RedBeat, constant round trips",
            None if q is None else (q >= 15 and constant),
            f"{fmt(b)} s vs {fmt(r)} s{note} = {fmt(q)}x; beatcore round trips over N "
            f"{sizes}: {[fmt(t) for t in trips]}",
        )

    label = "dispatch all, no publish (entries/s)"
    for n in sorted({n10, _reference_n(document, 100_000) or n10}):
        b = figure(document, "beatcore", n, label)
        r, note = _redbeat_at(document, n, label)
        q = ratio(b, r, True)
        add(
            f"dispatch throughput, publish excluded, N={n:,}: >= 10x RedBeat",
            None if q is None else q >= 10,
            f"{fmt(b)}/s vs {fmt(r)}/s{note} = {fmt(q)}x",
        )
    per_tick = [
        figure(document, "beatcore", n, row)
        for n in sizes
        for row in (
            "tick, 1% due: round trips per tick",
            "dispatch all, no publish: round trips per tick",
        )
    ]
    add(
        "round trips per tick constant in the number due",
        len(set(per_tick)) == 1,
        f"beatcore round trips per tick (1% due, all due) over N {sizes}: "
        f"{[fmt(t) for t in per_tick]}",
    )

    label = "dispatch all, publish (entries/s)"
    for n in sizes:
        b = figure(document, "beatcore", n, label)
        r, note = _redbeat_at(document, n, label)
        q = ratio(b, r, True)
        add(
            f"dispatch with real publishing, N={n:,}: >= 2x RedBeat",
            None if q is None else q >= 2,
            f"{fmt(b)}/s vs {fmt(r)}/s{note} = {fmt(q)}x",
        )

    _write_budgets(document, n10, add)
    checks += reference_checks(document)

    idle = [figure(document, "beatcore", n, "idle tick: round trips") for n in sizes]
    add(
        "idle tick: 1 round trip",
        all(t == 1 for t in idle),
        f"beatcore idle-tick round trips over N {sizes}: {[fmt(t) for t in idle]}",
    )
    rss = [
        v
        for v in (
            figure(document, "beatcore", n, "RSS after startup, N stored entries (MB)")
            for n in sizes
        )
        if v is not None
    ]
    spread = max(rss) - min(rss) if rss else None
    add(
        "process RSS after startup flat in N (within 10 MB)",
        None if spread is None or len(rss) < 2 else spread <= 10,
        f"beatcore RSS (N stored entries) over N {sizes}: {[fmt(v) for v in rss]} MB, "
        f"spread {fmt(spread)} MB",
    )
    return checks


def _write_budgets(
    document: Mapping[str, Any], n: int, add: Callable[[str, bool | None, str], None]
) -> None:
    """The write budgets of issue 17 at ``n`` (10k in a full run), and the idle tick's
    server commands."""
    for key, label in (("new", "store N entries (s)"), ("changed", "save changed (entries/s)")):
        higher = key == "changed"
        b = figure(document, "beatcore", n, label)
        r, note = _redbeat_at(document, n, label)
        q = ratio(b, r, higher)
        row = "save" if key == "new" else "save changed"
        trips = figure(document, "beatcore", n, f"{row}: round trips per entry")
        add(
            f"one save ({key} entry), N={n:,}: 1 round trip, >= 2x RedBeat",
            # the first save of a connection also loads the script (two more round trips)
            None if q is None or trips is None else (q >= 2 and round(trips, 2) <= 1.0),
            f"{fmt(q)}x RedBeat{note}; beatcore round trips per save {trips:.4f}"
            if trips is not None
            else f"{fmt(q)}x RedBeat{note}",
        )
    label = "save_many (entries/s; RedBeat: save per entry)"
    b = figure(document, "beatcore", n, label)
    r, note = _redbeat_at(document, n, label)
    q = ratio(b, r, True)
    trips = figure(document, "beatcore", n, "save_many: round trips")
    add(
        f"save_many, N={n:,}: >= 20x RedBeat's save per entry, constant round trips",
        None if q is None else q >= 20,
        f"{fmt(b)}/s vs {fmt(r)}/s{note} = {fmt(q)}x; beatcore round trips {fmt(trips)}",
    )
    label = "idle tick: server commands"
    b = figure(document, "beatcore", n, label)
    r, note = _redbeat_at(document, n, label)
    pair = document.get("idle_interleaved", {}).get(str(n))
    if pair is None:
        time_met, time_text = None, "time: not measured interleaved at this N"
    else:
        time_met = no_slower(pair["paired"])
        sides = [document["results"][side][str(n)]["tick_idle_interleaved"] for side in SIDES]
        time_text = (
            f"time, interleaved: {' vs '.join(ms_spread(f) for f in sides)}, "
            f"{describe(pair['paired'])}"
        )
    add(
        f"idle tick, N={n:,}: no more server commands than RedBeat, and no slower",
        None if b is None or r is None or time_met is None else (b <= r and time_met),
        f"commands: beatcore {fmt(b)} vs RedBeat {fmt(r)}{note}; {time_text}",
    )
    for size in sorted(int(k) for k in document["results"].get("beatcore", {})):
        memory = document["results"]["beatcore"][str(size)].get("memory_per_entry")
        if not memory:
            continue
        parts = ", ".join(f"{k} {fmt(v)}" for k, v in memory.get("by_key", {}).items())
        add(
            f"Redis memory per entry, N={size:,}: <= 500 bytes",
            memory["bytes"] <= 500,
            f"{fmt(memory['bytes'])} B (MEMORY USAGE per entry: {parts or 'not measured'})",
        )


def budget_lines(checks: list[dict[str, Any]]) -> str:
    """Return the budget checks as text lines."""
    word = {True: "MET   ", False: "MISSED", None: "N/A   "}
    return "\n".join(f"{word[c['met']]} {c['budget']}: {c['detail']}" for c in checks)


def markdown(document: Mapping[str, Any]) -> str:
    """Return the run as Markdown: machine and versions, the table, the budget checks."""
    m = document["machine"]
    commit = document["machine"].get("commit")
    lines = [
        f"Run finished {document['date']}, {document['total_seconds']:.0f} s in all"
        + (f", at commit {commit}." if commit else "."),
        "",
        f"- machine: {m['nproc']} cores, {m['cpu']}, {m['platform']}",
        f"- Python {m['python']}, redis-server {m['redis-server']}, celery {m['celery']}, "
        f"kombu {m['kombu']}, redis-py {m['redis-py']}, celery-redbeat {m['celery-redbeat']}, "
        f"beatcore {m['beatcore']}",
        f"- sizes: {', '.join(f'{n:,}' for n in document['sizes'])}",
    ]
    for side, skips in document.get("skipped", {}).items():
        for skip in skips:
            lines.append(
                f"- {side} skipped at N={skip['n']:,} "
                f"(estimated {skip['estimated_seconds']} s over its budget)"
            )
    lines += ["", table(document, markdown=True), ""]
    if document.get("idle_interleaved"):
        lines += [idle_table(document), ""]
    if document.get("reference", {}).get("results"):
        lines += [reference_table(document), ""]
    lines += ["Budgets:", ""]
    word = {True: "**met**", False: "**missed**", None: "n/a"}
    lines += [f"- {word[c['met']]}: {c['budget']}: {c['detail']}" for c in document["budgets"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report [results.json] [--results-md bench/RESULTS.md]``: print the run
    as Markdown, or write it as the ``redbeat`` section of RESULTS.md (other sections kept)."""
    import argparse
    import json
    from pathlib import Path

    from bench.results_md import write_section

    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument(
        "results", nargs="?", type=Path, default=Path(__file__).parent / "results.json"
    )
    parser.add_argument("--results-md", type=Path, help="write the redbeat section of this file")
    args = parser.parse_args(argv)
    text = markdown(json.loads(args.results.read_text()))
    if args.results_md is None:
        print(text)
    else:
        write_section(args.results_md, SECTION, text)
    return 0


#: The section of bench/RESULTS.md this report writes.
SECTION = "redbeat"

if __name__ == "__main__":
    raise SystemExit(main())
