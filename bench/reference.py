"""The tree issue 17 measured, measured again in the same run: "3x today" as a same-run ratio.

Issue 17 asks for real publishing "at least 3x today (about 15k/s on these machines)", today
being the tree it was filed against (:data:`REFERENCE`, whose bench measured 4,660/s). This VM's
speed moves between sessions by more than that factor (beatcore's own dispatch with publishing
at 10k: 8.5k/s in one full run, 12.3k/s in the next, 36k/s on a quiet day), so an absolute
figure from one day cannot be set against one from another. :func:`run_reference` runs that
tree's own ``bench.worker`` (its ``store`` scenario once, to store the N entries in its own
layout, then its ``ticks`` scenario) on the same two redis-servers, right after both sides at
that N (:mod:`bench.run`, N up to :data:`REFERENCE_MAX_N`), so the ratio compares trees, not
days. The figures go to the results document's ``reference`` object.

The tree comes from the repository's history (``git archive``); in a checkout without it (a
shallow clone) the run says so and goes on without the reference, as it does when the old
harness fails at some N (its error is kept in the results document, ``failed``). The old
process runs the old tree's ``beatcore``, ``beatcore_redis`` and ``bench``, but the installed
distribution's entry points still name this tree's ``beatcore_postgres`` and ``beatcore_web``
plugins, which the old plugin manager loads from here: they register only CLI and
store-by-URL hooks, which a ``redis://`` schedule never reaches, and should an import of
theirs break against the old ``beatcore``, that N fails as above.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from bench.processes import BENCH_DIR, run_module
from bench.servers import RedisServer

#: The commit issue 17 was filed against (main before its first change).
REFERENCE = "ca0c221"
#: The largest N the reference runs at: the issue's figure is at 10k, and the old tree's
#: one-by-one store of 100k entries alone would take minutes.
REFERENCE_MAX_N = 10_000
#: How many times real publishing must beat the reference in the same run.
FACTOR = 3.0
PUBLISH = "dispatch_publish"


class ReferenceUnavailable(Exception):
    """The reference tree could not be taken from the repository (no git, no such commit)."""


def _git(*arguments: str) -> bytes:
    # from the repository's root: in a subdirectory ``git archive`` takes only that subtree
    try:
        return subprocess.run(
            ["git", *arguments], cwd=BENCH_DIR.parent, capture_output=True, check=True, timeout=120
        ).stdout
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip() or f"exit {exc.returncode}"
        raise ReferenceUnavailable(f"git {arguments[0]} failed: {message}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReferenceUnavailable(f"git {arguments[0]} could not run: {exc}") from exc


def extract(revision: str, destination: Path) -> str:
    """Write the tree of ``revision`` into ``destination``; return its full commit id.

    :raises ReferenceUnavailable: not a git checkout, or the commit is not in its history.
    """
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
    except ReferenceUnavailable as exc:
        raise ReferenceUnavailable(
            f"commit {revision} is not in the history of {BENCH_DIR.parent} ({exc}; in a "
            "shallow clone: git fetch --unshallow)"
        ) from exc
    try:
        with tarfile.open(fileobj=io.BytesIO(_git("archive", commit)), mode="r:") as archive:
            # the "data" filter (3.11.4+, 3.10.12+) refuses links and paths out of it
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(destination, **safe)
    except (tarfile.TarError, OSError) as exc:
        raise ReferenceUnavailable(f"the tree of {revision} could not be extracted: {exc}") from exc
    return commit


def run_reference(
    revision: str,
    n: int,
    repeats: int,
    idle_repeats: int,
    schedule: RedisServer,
    broker: RedisServer,
) -> tuple[str, dict[str, Any]]:
    """Measure ``revision``'s dispatch at ``n`` with its own harness, on a flushed schedule
    server (flushed again after); return its full commit id and its ``ticks`` figures.

    :raises ReferenceUnavailable: the tree cannot be had (see :func:`extract`).
    :raises RuntimeError: its worker failed (its stderr is in the message).
    """
    admin = schedule.client()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-reference-") as tmp:
            tree = Path(tmp)
            commit = extract(revision, tree)
            admin.flushall()
            # its own store scenario stores the N entries in its own layout; only the
            # ticks are reported
            figures: dict[str, Any] = {}
            for scenario, reps in (("store", 1), ("ticks", repeats)):
                options: dict[str, object] = {
                    "side": "beatcore",
                    "scenario": scenario,
                    "n": n,
                    "repeats": reps,
                    "idle-repeats": idle_repeats,
                }
                label = f"the reference tree {revision}: {scenario} at N={n}"
                figures = run_module("bench.worker", options, schedule, broker, label, tree=tree)
            return commit, figures
    finally:
        try:
            admin.flushall()  # after a failed worker too: the next measurement starts empty
        finally:
            admin.close()


def record_reference(
    reference: dict[str, Any],
    n: int,
    repeats: int,
    idle_repeats: int,
    schedule: RedisServer,
    broker: RedisServer,
    log: TextIO,
) -> None:
    """Measure ``reference["revision"]`` at ``n`` (:func:`run_reference`) into ``reference``,
    the results document's ``reference`` object: its figures under ``results``, or why not:
    ``unavailable`` (no such tree: nothing more is tried) or ``failed`` by N (its harness
    failed there; the other N still run). Called by :mod:`bench.run` after both sides at N."""
    revision = reference["revision"]
    print(f"[bench] reference tree {revision} N={n} ...", file=log, flush=True)
    started = time.monotonic()
    try:
        commit, figures = run_reference(revision, n, repeats, idle_repeats, schedule, broker)
    except ReferenceUnavailable as exc:
        print(f"[bench]   reference unavailable: {exc}", file=log, flush=True)
        reference["unavailable"] = str(exc)
    except RuntimeError as exc:  # its harness failed: the run goes on without it
        print(f"[bench]   reference failed at N={n}: {exc}", file=log, flush=True)
        reference.setdefault("failed", {})[str(n)] = str(exc)[-2000:]
    else:
        reference["commit"] = commit
        reference["results"][str(n)] = figures
        print(f"[bench]   done in {time.monotonic() - started:.1f}s", file=log, flush=True)


def _both(document: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """Each N (as its key) beatcore and the reference both ran, in order of N, with their
    ``ticks`` figures: ``(n, beatcore's, the reference's)``."""
    beatcore = document["results"].get("beatcore", {})
    ran = document["reference"]["results"]
    for n in sorted(ran, key=int):
        if n in beatcore:
            yield n, beatcore[n], ran[n]


def rate(figures: Mapping[str, Any], key: str = PUBLISH) -> float:
    """Entries per second of a ``ticks`` result's dispatch (``key``: with real publishing, or
    ``"dispatch"``, publishing excluded)."""
    return float(figures[key]["n"]) / float(figures[key]["seconds"])


def reference_checks(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The "3x today" budget at each N both beatcore and the reference ran; each check is
    ``{"budget", "met", "detail"}`` as :func:`bench.report.budgets` gives them."""
    reference = document.get("reference")
    if not reference:
        return []
    revision = reference["revision"]
    tree = "the tree issue 17 measured" if revision == REFERENCE else "the reference tree"
    name = f"real publishing >= {FACTOR:.0f}x {tree} ({revision})"
    checks = []
    if "unavailable" in reference:
        checks.append({"budget": name, "met": None, "detail": reference["unavailable"]})
    for n, why in sorted(reference.get("failed", {}).items(), key=lambda item: int(item[0])):
        checks.append({"budget": f"{name}, same run, N={int(n):,}", "met": None, "detail": why})
    for n, ours, figures in _both(document):
        now, then = rate(ours), rate(figures)
        queued = figures[PUBLISH].get("queued")
        checks.append(
            {
                "budget": f"{name}, same run, N={int(n):,}",
                "met": now >= FACTOR * then,
                "detail": f"{now:,.0f}/s vs {then:,.0f}/s = {now / then:.2f}x "
                f"(the reference's broker queue held {queued} of {int(n):,})",
            }
        )
    return checks


def reference_table(document: Mapping[str, Any]) -> str:
    """The Markdown table of beatcore's dispatch against the reference tree's, same run."""
    revision = document["reference"]["revision"]
    lines = [
        f"| dispatch, same run (entries/s) | N | beatcore | {revision} | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for n, ours, figures in _both(document):
        for key, label in (("dispatch", "no publish"), (PUBLISH, "real publishing")):
            now, then = rate(ours, key), rate(figures, key)
            lines.append(f"| {label} | {int(n):,} | {now:,.0f} | {then:,.0f} | {now / then:.1f}x |")
    return "\n".join(lines)
