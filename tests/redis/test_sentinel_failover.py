"""A scheduler on ``redis+sentinel://`` keeps sending each occurrence exactly once while
Sentinel fails the master over to the replica (``SENTINEL FAILOVER``).

Real time, real servers: the entries fire every second on a fixed grid, the test ticks the
scheduler in a loop while a thread forces the failover and waits until Sentinel has demoted
the old master again. Assertions are about what was sent, never about how long anything took.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

import beatcore
from beatcore import Entry, Interval
from beatcore.testing import drain_task_ids, memory_broker_app, recording
from beatcore.timeutil import UTC
from tests.support.redis_servers import RedisSentinelGroup

pytestmark = pytest.mark.timeout(180)

ENTRIES = ("alpha", "beta", "gamma")
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=1)
LOCK_TTL = 6.0
SETTLE_TIMEOUT = 90.0
"""Bound on the whole failover, including Sentinel demoting and resyncing the old master."""
AFTER_FAILOVER = 3.0
"""Seconds of ticking after the group is healthy again, so the tail of the window is seen."""


def _grid(first: datetime, last: datetime) -> list[datetime]:
    points, at = [], first
    while at <= last:
        points.append(at)
        at += STEP
    return points


def _timeline(moments: dict[str, datetime]) -> str:
    return ", ".join(f"{what} at {at.isoformat()}" for what, at in moments.items())


def test_every_occurrence_is_sent_exactly_once_across_a_forced_failover(
    redis_sentinel: RedisSentinelGroup,
) -> None:
    prefix = f"it-sentinel-{uuid.uuid4().hex[:8]}:"
    url = redis_sentinel.url
    app = memory_broker_app(url, beatcore_key_prefix=prefix, beatcore_lock_ttl=LOCK_TTL)
    manager = beatcore.connect(url, key_prefix=prefix)
    try:
        for name in ENTRIES:
            manager.save(
                Entry(name=name, task="tests.noop", schedule=Interval(1, anchor=ANCHOR),
                      catch_up="all")
            )  # fmt: skip
    finally:
        manager.close()

    failover_error: list[BaseException] = []
    promoted, settled = threading.Event(), threading.Event()
    moments: dict[str, datetime] = {}

    def force_failover() -> None:
        try:
            moments["failover forced"] = datetime.now(UTC)
            redis_sentinel.failover(SETTLE_TIMEOUT)
            moments["replica promoted"] = datetime.now(UTC)
            promoted.set()
            redis_sentinel.wait_healthy(SETTLE_TIMEOUT)
            moments["old master demoted and synced"] = datetime.now(UTC)
        except BaseException as exc:
            failover_error.append(exc)
        finally:
            promoted.set()
            settled.set()

    with recording() as recorder:
        scheduler = beatcore.Scheduler(app, holder="sentinel-it")
        thread = threading.Thread(target=force_failover, name="failover", daemon=True)
        sent_before_failover = sent_at_settle = 0
        try:
            deadline = time.monotonic() + SETTLE_TIMEOUT + 60
            started_failover_at: float | None = None
            settled_at: float | None = None
            while time.monotonic() < deadline:
                pause = scheduler.tick()
                now = time.monotonic()
                if started_failover_at is None and len(recorder.sent) >= 3 * len(ENTRIES):
                    sent_before_failover = len(recorder.sent)
                    started_failover_at = now
                    thread.start()
                if settled_at is None and settled.is_set():
                    settled_at, sent_at_settle = now, len(recorder.sent)
                if settled_at is not None and now - settled_at >= AFTER_FAILOVER:
                    break
                time.sleep(min(pause, 0.1))
            else:
                pytest.fail(f"the failover did not settle; sent so far: {len(recorder.sent)}")
        finally:
            scheduler.close()
            thread.join(SETTLE_TIMEOUT)
        queued = drain_task_ids(app)

    assert failover_error == [], f"the failover itself failed: {failover_error}"
    assert recorder.failed == [], f"sends failed: {recorder.failed}"
    assert recorder.skipped == [], f"occurrences skipped: {recorder.skipped}"

    by_id = Counter(task_id for _, _, task_id in recorder.sent)
    twice = sorted((o, n) for n, o, i in set(recorder.sent) if by_id[i] > 1)
    assert twice == [], (
        f"{len(twice)} occurrences were dispatched twice, from {twice[0][0]} to "
        f"{twice[-1][0]} (entries {sorted({n for _, n in twice})}); {_timeline(moments)}"
    )
    on_broker = Counter(queued)
    assert {i: n for i, n in on_broker.items() if n > 1} == {}, "a task id reached the broker twice"
    assert set(on_broker) == set(by_id)

    occurrences: dict[str, list[datetime]] = defaultdict(list)
    for name, occurrence, _ in recorder.sent:
        occurrences[name].append(occurrence)
    assert set(occurrences) == set(ENTRIES)
    for name, seen in occurrences.items():
        expected = _grid(min(seen), max(seen))
        missing = sorted(set(expected) - set(seen))
        assert missing == [], f"{name}: occurrences never sent: {missing}"
    # The window really spans the failover: sends before it and after the group settled.
    assert 0 < sent_before_failover <= sent_at_settle < len(recorder.sent)

    # What the (new) master holds agrees with what was sent: no ack was lost with the old one.
    check = beatcore.connect(url, key_prefix=prefix)
    try:
        for name, seen in occurrences.items():
            state = check.state(name)
            assert state.last_run_at == max(seen), name
            assert state.total_run_count == len(seen), name
        assert check.in_flight() == []
    finally:
        check.close()
    print(
        f"\nsentinel failover: {len(recorder.sent)} occurrences sent once each, "
        f"{sent_before_failover} before the failover; leadership changes: {recorder.leadership}"
    )
