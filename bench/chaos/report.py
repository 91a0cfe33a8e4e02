"""Account for every occurrence of a run and print the table.

Inputs: the entry plans (:mod:`bench.chaos.expect`), the worker's record file (one JSON line
per task run), the beat logs and the harness's fault events. An expected occurrence is
*once* (one run), *duplicated* (its task id ran more than once), *skipped* (not run, and a beat
logged skipping it under the catch-up policy) or *missed* (not run and not logged: silently
lost). A run of an occurrence that no schedule in force called for is *unexpected*.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from beatcore.timeutil import UTC
from bench.chaos.expect import EntryPlan
from bench.chaos.harness import Event

_STAMP = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[\w-]+\] "
_SEND = re.compile(_STAMP + r"Scheduler: Sending due task (\S+) \((\S+)\)(?: for (\S+),)?")
_RECOVERED = "(recovered from a previous leader)"
_LEADS = re.compile(_STAMP + r"beatcore: (\S+) now leads .*\(fencing token (\d+)\)")
_SKIP = re.compile(_STAMP + r"beatcore: skipped (\S+) of entry '([^']+)': (.*)$")
#: Several occurrences skipped in one tick are one line naming the first and the last.
_SKIP_RANGE = re.compile(
    _STAMP + r"beatcore: skipped \d+ occurrences of entry '([^']+)', the first (\S+), "
    r"the last (\S+): (.*)$"
)
_CORRUPT = re.compile(_STAMP + r".*is skipped until its record is fixed")
_CORRUPT_NAME = re.compile(r"stored record of entry ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
#: What follows the newline in the bad-data scenario's odd name: at a line's start, forged.
FORGED = "INFO forged log line"
_REDBEAT_LEADS = re.compile(_STAMP + r"beat: Acquired lock")
#: Faults aimed at the leader: the failover time is measured from them to the next new leader.
LEADER_FAULTS = frozenset(
    {"kill-9", "sigterm", "sigstop", "partition", "silent-partition", "skew-kill"}
)
#: Faults of the store: the recovery time is measured to the next send after they healed.
STORE_FAULTS = frozenset({"store-down", "sentinel-failover"})


def _logged_as_skipped(
    name: str, occurrence: float, ranges: Sequence[tuple[str, float, float]]
) -> bool:
    """Whether a beat logged ``occurrence`` of ``name`` as skipped (alone or within a range)."""
    return any(n == name and first <= occurrence <= last for n, first, last in ranges)


def log_time(stamp: str) -> float:
    """Epoch seconds of a celery log stamp (the processes run with TZ=UTC)."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC).timestamp()


@attrs.frozen
class BeatLog:
    """What one beat's log says: sends, leadership acquisitions, skips, corrupt reports."""

    name: str
    sends: tuple[tuple[float, str, float | None], ...]
    recovered: frozenset[tuple[str, float]]
    """(entry, occurrence) this beat re-sent as recovered from a previous leader."""
    leads: tuple[tuple[float, int], ...]
    skips: tuple[tuple[str, float, float, str], ...]
    """(entry, first occurrence, last occurrence, reason) of each skip line."""
    corrupt_reports: int
    corrupt_names: frozenset[str] = frozenset()
    """The entries whose records the beat reported unreadable."""
    forged_lines: int = 0
    """Lines starting ``INFO forged`` (what the bad-data scenario's newline name holds)."""

    @classmethod
    def read(cls, name: str, path: Path) -> BeatLog:
        """Parse ``path`` (missing file: an empty log)."""
        text = path.read_text(errors="replace") if path.exists() else ""
        sends: list[tuple[float, str, float | None]] = []
        recovered: set[tuple[str, float]] = set()
        leads: list[tuple[float, int]] = []
        skips: list[tuple[str, float, float, str]] = []
        corrupt = 0
        corrupt_names: set[str] = set()
        forged = 0
        for line in text.splitlines():
            if m := _SEND.match(line):
                occ = datetime.fromisoformat(m[4]).timestamp() if m[4] else None
                sends.append((log_time(m[1]), _unquote(m[2]), occ))
                if line.endswith(_RECOVERED) and occ is not None:
                    recovered.add((_unquote(m[2]), occ))
            elif m := _LEADS.match(line):
                leads.append((log_time(m[1]), int(m[3])))
            elif m := _REDBEAT_LEADS.match(line):
                leads.append((log_time(m[1]), 0))
            elif m := _SKIP.match(line):
                at = datetime.fromisoformat(m[2]).timestamp()
                skips.append((m[3], at, at, m[4]))
            elif m := _SKIP_RANGE.match(line):
                first = datetime.fromisoformat(m[3]).timestamp()
                last = datetime.fromisoformat(m[4]).timestamp()
                skips.append((m[2], first, last, m[5]))
            elif line.startswith(FORGED):
                forged += 1
            elif _CORRUPT.match(line):
                corrupt += 1
                if found := _CORRUPT_NAME.search(line):
                    corrupt_names.add(_unquote(found[1]))
        return cls(
            name,
            tuple(sends),
            frozenset(recovered),
            tuple(leads),
            tuple(skips),
            corrupt,
            frozenset(corrupt_names),
            forged,
        )


def _unquote(name: str) -> str:
    """A name as logged: quoted and escaped (``repr``) when it holds a control character."""
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        try:
            value = ast.literal_eval(name)
        except (ValueError, SyntaxError):
            return name
        return value if isinstance(value, str) else name
    return name


def read_records(path: Path) -> list[dict[str, Any]]:
    """The worker's runs, in the order it wrote them."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@attrs.define
class ScenarioResult:
    """The figures of one scenario run (seconds for times)."""

    scenario: str
    side: str
    seconds: float
    seed: int
    expected: int = 0
    once: int = 0
    duplicated: int = 0
    """Occurrences run more than once, other than ``recovered_duplicates``."""
    recovered_duplicates: int = 0
    """Occurrences run twice because a new leader re-sent a claim the previous leader had
    published but never acknowledged (design.md allows these: same task id, logged)."""
    missed: int = 0
    skipped: int = 0
    optional_run: int = 0
    unexpected: int = 0
    unknown_runs: int = 0
    stale_sends: int = 0
    leader_changes: int = 0
    faults: int = 0
    corrupt_reports: int = 0
    bad_kinds: dict[str, list[int]] = attrs.field(factory=dict)
    """bad-data: kind -> [planted, reported, kept] bad records."""
    forged_lines: int = 0
    """Beat log lines that do not start with a log stamp but with text a name carried."""
    lateness: list[float] = attrs.field(factory=list)
    failovers: list[float] = attrs.field(factory=list)
    recoveries: list[float] = attrs.field(factory=list)
    details: list[str] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (lateness and times reduced to p50/p99/max)."""
        data = attrs.asdict(self)
        for key in ("lateness", "failovers", "recoveries"):
            values = data.pop(key)
            data[key] = {
                "n": len(values),
                "p50": _percentile(values, 0.5),
                "p99": _percentile(values, 0.99),
                "max": max(values) if values else None,
            }
        return data


def _duplicate(
    result: ScenarioResult, recovered: set[tuple[str, float]], name: str, occ: float, what: str
) -> None:
    if (name, occ) in recovered:
        result.recovered_duplicates += 1
        result.details.append(f"{what} (re-sent as recovered) {name} @ {_iso(occ)}")
    else:
        result.duplicated += 1
        result.details.append(f"{what} {name} @ {_iso(occ)}")


def analyse(
    result: ScenarioResult,
    plans: Sequence[EntryPlan],
    records: Sequence[dict[str, Any]],
    logs: Sequence[BeatLog],
    events: Sequence[Event],
    until: float,
) -> ScenarioResult:
    """Fill ``result`` from what ran, what the beats logged and what the harness did."""
    runs_by_id: dict[str, list[float]] = defaultdict(list)
    for record in records:
        runs_by_id[record["id"]].append(float(record["at"]))
    skip_ranges = [(name, first, last) for log in logs for (name, first, last, _) in log.skips]
    recovered = {pair for log in logs for pair in log.recovered}
    matched: set[str] = set()
    for plan in plans:
        ids = plan.task_ids(until)
        by_occ = {occ: tid for tid, occ in ids.items()}
        matched |= ids.keys()
        expected, optional = plan.classify(until)
        for occ in sorted(expected):
            times = runs_by_id.get(by_occ[occ], [])
            result.expected += 1
            if not times:
                if _logged_as_skipped(plan.name, occ, skip_ranges):
                    result.skipped += 1
                else:
                    result.missed += 1
                    result.details.append(f"missed {plan.name} @ {_iso(occ)} ({by_occ[occ]})")
                continue
            result.lateness.append(min(times) - occ)
            if len(times) == 1:
                result.once += 1
            else:
                _duplicate(result, recovered, plan.name, occ, f"duplicated x{len(times)}")
        for occ in optional:
            times = runs_by_id.get(by_occ[occ], [])
            result.optional_run += bool(times)
            if len(times) > 1:
                _duplicate(result, recovered, plan.name, occ, "duplicated (optional)")
        first = min((s.opened_from for s in plan.segments), default=until)
        for tid, occ in ids.items():
            if first < occ <= until and tid in runs_by_id and occ not in expected | optional:
                result.unexpected += 1
                result.details.append(f"unexpected {plan.name} @ {_iso(occ)} ({tid})")
        # A duplicate outside the window (before it, or while the harness stopped the beats)
        # is still a duplicate.
        counted = expected | optional
        for tid, occ in ids.items():
            if occ not in counted and len(runs_by_id.get(tid, [])) > 1:
                _duplicate(result, recovered, plan.name, occ, "duplicated (outside the window)")
    result.unknown_runs = sum(len(t) for tid, t in runs_by_id.items() if tid not in matched)
    leadership(result, logs, events)
    result.corrupt_reports = sum(log.corrupt_reports for log in logs)
    result.forged_lines = sum(log.forged_lines for log in logs)
    return result


def leadership(result: ScenarioResult, logs: Sequence[BeatLog], events: Sequence[Event]) -> None:
    """Count leader changes, stale sends, failover and recovery times into ``result``."""
    leads = sorted((at, log.name) for log in logs for (at, _) in log.leads)
    stopping = min((e.at for e in events if e.kind == "beats-stopping"), default=float("inf"))
    result.leader_changes = max(0, len([t for t, _ in leads if t < stopping]) - 1)
    # A send is stale when, at its log time, the most recent acquisition was another beat's.
    for log in logs:
        for at, _, _ in log.sends:
            before = [name for (t, name) in leads if t <= at]
            if before and before[-1] != log.name:
                result.stale_sends += 1
                result.details.append(f"stale send by {log.name} at {_iso(at)}")
    sends = sorted(at for log in logs for (at, _, _) in log.sends)
    for event in events:
        if event.kind in LEADER_FAULTS and event.detail.startswith("leader"):
            result.faults += 1
            # A killed process cannot lead again; a paused one can, once it wakes.
            same_ok = event.kind in {"kill-9", "sigterm", "skew-kill"}
            after = [t for (t, name) in leads if t > event.at and (same_ok or name != event.target)]
            if after:
                result.failovers.append(after[0] - event.at)
        elif event.kind in STORE_FAULTS:
            result.faults += 1
            after_sends = [t for t in sends if t > event.at]
            if after_sends:
                result.recoveries.append(after_sends[0] - event.at)
        elif event.kind in {"kill-9", "sigstop", "drop", "latency", "corrupt", "churn"}:
            result.faults += 1


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


COLUMNS = (
    "scenario",
    "side",
    "expected",
    "once",
    "dup",
    "dup recovered",
    "missed",
    "skipped",
    "unexpected",
    "stale sends",
    "late p50",
    "late p99",
    "late max",
    "leader changes",
    "failover p50/max",
    "recovery max",
)


def row(r: ScenarioResult) -> list[str]:
    """One table row."""
    fo = f"{_fmt(_percentile(r.failovers, 0.5))}/{_fmt(max(r.failovers, default=None))}"
    return [
        r.scenario,
        r.side,
        str(r.expected),
        str(r.once),
        str(r.duplicated),
        str(r.recovered_duplicates),
        str(r.missed),
        str(r.skipped),
        str(r.unexpected),
        str(r.stale_sends),
        _fmt(_percentile(r.lateness, 0.5)),
        _fmt(_percentile(r.lateness, 0.99)),
        _fmt(max(r.lateness, default=None)),
        str(r.leader_changes),
        fo if r.failovers else "-",
        _fmt(max(r.recoveries, default=None)),
    ]


def table(results: Sequence[ScenarioResult], *, markdown: bool = False) -> str:
    """The results as an aligned text table (or a Markdown table)."""
    rows = [list(COLUMNS), *(row(r) for r in results)]
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def counts(results: Sequence[ScenarioResult]) -> Counter[str]:
    """Totals over all scenarios (for a one-line summary)."""
    total: Counter[str] = Counter()
    for r in results:
        total.update(expected=r.expected, duplicated=r.duplicated, missed=r.missed)
    return total
