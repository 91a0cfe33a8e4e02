"""Several real processes on one SQLite file: claims, leadership and readers.

Each child process opens its own store on the file (as beat processes and management clients
do) and writes what it saw to a JSON file; the assertions run in the test process. The clocks
are fixed instants, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from beatcore import Entry, Interval
from beatcore.store import Ack, Lease
from beatcore.stores.sqlite import SqliteStore
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
CONTEXT = multiprocessing.get_context(
    "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
)


#: 200 entries, claimed 3 at a time by two processes making this many calls each.
CLAIM_CALLS = 40
#: 20 entries x 60 occurrences, sent 5 at a time by two leaders taking this many turns each.
LEAD_TURNS = 130


def _at_now() -> datetime:
    return NOW


def _run(targets: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> None:
    procs = [CONTEXT.Process(target=target, args=args) for target, args in targets]  # type: ignore[attr-defined]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    assert [proc.exitcode for proc in procs] == [0] * len(procs)


def _save_entries(path: Path, count: int) -> None:
    store = SqliteStore(path, clock=lambda: T0)
    store.sync_static(
        Entry(name=f"e{i:03d}", task="t", schedule=Interval(60), static=True) for i in range(count)
    )
    store.close()


# -- child processes -----------------------------------------------------------------------


def _claimer(path: Path, lease: Lease, start: Barrier, out: Path) -> None:
    """Make CLAIM_CALLS claims of up to 3 entries with a shared lease; write what it got.

    One process can take at most CLAIM_CALLS * 3 entries, fewer than all of them, so both
    processes claim, whichever one SQLite lets in first.
    """
    store = SqliteStore(path, clock=_at_now)
    start.wait()
    claimed: list[str] = []
    for _ in range(CLAIM_CALLS):
        got = store.claim_due(lease, NOW, limit=3, reclaim_after=3600).claims
        claimed += [claim.entry.name for claim in got]
    store.close()
    out.write_text(json.dumps(claimed))


def _beat(path: Path, holder: str, start: Barrier, out: Path) -> None:
    """Lead LEAD_TURNS times: acquire, claim up to 5, ack, release; write what it sent.

    One process can send at most LEAD_TURNS * 5 occurrences, fewer than all of them, so
    both lead, whichever one wins the lock more often.
    """
    store = SqliteStore(path, clock=_at_now)
    start.wait()
    sent: list[tuple[str, str, int]] = []
    turns = 0
    while turns < LEAD_TURNS:
        lease = store.lock.acquire(holder, 60)
        if lease is None:
            continue
        turns += 1
        claims = store.claim_due(lease, NOW, limit=5, reclaim_after=3600).claims
        acks = []
        for claim in claims:
            occurrence = claim.state.next_run_at
            assert occurrence is not None
            sent.append((claim.entry.name, occurrence.isoformat(), lease.token))
            new = claim.state.evolve(
                next_run_at=occurrence + timedelta(seconds=60),
                last_run_at=occurrence,
                total_run_count=claim.state.total_run_count + 1,
            )
            acks.append(Ack(claim.entry.name, claim.state, new, new.next_run_at))
        store.ack(lease, acks)
        store.lock.release(lease)
    store.close()
    out.write_text(json.dumps(sent))


def _writer(path: Path, rounds: int, reader_ready: Event, done: Event) -> None:
    """Rewrite every entry (new args) in one sync per round."""
    store = SqliteStore(path, clock=lambda: T0)
    reader_ready.wait(30)
    for version in range(1, rounds + 1):
        store.sync_static(
            Entry(name=f"e{i:03d}", task="t", schedule=Interval(60), args=(version,), static=True)
            for i in range(30)
        )
    store.close()
    done.set()


def _reader(path: Path, reader_ready: Event, done: Event, out: Path) -> None:
    """Read all entries over and over; record every read that mixes two versions."""
    store = SqliteStore(path, clock=lambda: T0)
    seen: list[list[Any]] = []
    mixed: list[list[Any]] = []
    while True:
        finished = done.is_set()
        entries = store.entries()
        versions = sorted({entry.args[0] if entry.args else 0 for entry in entries})
        if len(versions) != 1 or len(entries) != 30:
            mixed.append([len(entries), versions])
        seen.append(versions)
        reader_ready.set()
        if finished:
            break
    store.close()
    out.write_text(json.dumps({"seen": seen, "mixed": mixed}))


# -- tests ---------------------------------------------------------------------------------


def test_two_processes_claiming_at_once_never_claim_the_same_entry(tmp_path: Path) -> None:
    path = tmp_path / "schedule.sqlite3"
    _save_entries(path, 200)
    store = SqliteStore(path, clock=_at_now)
    lease = store.lock.acquire("parent", 3600)
    assert lease is not None
    start = CONTEXT.Barrier(2)
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    _run([(_claimer, (path, lease, start, out)) for out in outs])

    by_process = [json.loads(out.read_text()) for out in outs]
    claimed = [name for names in by_process for name in names]
    assert sorted(claimed) == [f"e{i:03d}" for i in range(200)]
    assert all(len(names) >= 200 - 3 * CLAIM_CALLS for names in by_process)
    assert sorted(f.name for f in store.in_flight()) == sorted(claimed)
    store.close()


def test_two_leaders_taking_turns_send_each_occurrence_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "schedule.sqlite3"
    _save_entries(path, 20)
    start = CONTEXT.Barrier(2)
    outs = {"beat-a": tmp_path / "a.json", "beat-b": tmp_path / "b.json"}
    _run([(_beat, (path, holder, start, out)) for holder, out in outs.items()])

    sent = {holder: json.loads(out.read_text()) for holder, out in outs.items()}
    occurrences = Counter((name, at) for runs in sent.values() for name, at, _ in runs)
    duplicated = {occ: n for occ, n in occurrences.items() if n > 1}
    assert duplicated == {}
    # Every occurrence from T0+1min to NOW (60 per entry) was sent, and each ack was kept.
    assert len(occurrences) == 20 * 60
    store = SqliteStore(path, clock=_at_now)
    assert sum(store.state(e.name).total_run_count for e in store.entries()) == 20 * 60
    assert store.in_flight() == []
    store.close()
    assert all(len(runs) >= 20 * 60 - 5 * LEAD_TURNS for runs in sent.values())
    # Each turn is a new fencing token, larger than any before, and no two turns share one.
    tokens = {holder: [token for _, _, token in runs] for holder, runs in sent.items()}
    for holder_tokens in tokens.values():
        assert holder_tokens == sorted(holder_tokens)
    assert set(tokens["beat-a"]).isdisjoint(tokens["beat-b"])


def test_a_reader_in_another_process_never_sees_half_an_update(tmp_path: Path) -> None:
    path = tmp_path / "schedule.sqlite3"
    _save_entries(path, 30)
    reader_ready, done = CONTEXT.Event(), CONTEXT.Event()
    out = tmp_path / "reader.json"
    _run(
        [
            (_writer, (path, 200, reader_ready, done)),
            (_reader, (path, reader_ready, done, out)),
        ]
    )
    result = json.loads(out.read_text())
    assert result["mixed"] == []
    assert result["seen"][0] == [0]
    assert result["seen"][-1] == [200]


def test_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "schedule.sqlite3"
    first = SqliteStore(path, clock=_at_now)
    lease = first.lock.acquire("beat-a", 60)
    assert lease is not None
    out = tmp_path / "other.json"
    _run([(_try_lock, (path, "beat-b", out))])
    assert json.loads(out.read_text()) == {"acquired": False, "holder": "beat-a"}
    first.lock.release(lease)
    _run([(_try_lock, (path, "beat-b", out))])
    assert json.loads(out.read_text()) == {"acquired": True, "holder": "beat-b"}
    first.close()


def _open_and_save(path: Path, name: str, start: Barrier) -> None:
    start.wait()
    store = SqliteStore(path, clock=lambda: T0)
    store.save(Entry(name=name, task="t", schedule=Interval(60)))
    store.close()


def test_processes_creating_the_same_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Two beats started together on a fresh file: both create, migrate and use it."""
    for attempt in range(5):
        path = tmp_path / f"fresh-{attempt}.sqlite3"
        start = CONTEXT.Barrier(4)
        _run([(_open_and_save, (path, f"p{i}", start)) for i in range(4)])
        store = SqliteStore(path)
        assert [e.name for e in store.entries()] == ["p0", "p1", "p2", "p3"]
        store.close()


def _try_lock(path: Path, holder: str, out: Path) -> None:
    store = SqliteStore(path, clock=_at_now)
    lease = store.lock.acquire(holder, 60)
    current = store.lock.current()
    out.write_text(
        json.dumps({"acquired": lease is not None, "holder": current.holder if current else None})
    )
    store.close()
