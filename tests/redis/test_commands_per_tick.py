"""Redis commands per scheduler tick, counted on a real server (the performance budget).

Every command a client sends is seen through MONITOR, which tells a client's own commands
(round trips, at most) from those a script runs inside Redis. The budget: a tick with nothing
due is exactly one script call; a tick with k due entries sends as many commands for k = 100
as for k = 1. Run with ``pytest -s`` to see the measured counts.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

import beatcore
from beatcore import Entry, Interval
from beatcore.testing import FakeClock, drain_task_ids, memory_broker_app, recording
from beatcore.testing.contract import T0
from tests.support.redis_servers import RedisServer

pytestmark = pytest.mark.timeout(120)

BATCHES = (1, 10, 100)


@attrs.frozen
class Commands:
    """What the server executed while an action ran."""

    client: tuple[str, ...]
    """Command names sent by clients, in order (a pipeline counts each of its commands)."""
    in_scripts: int
    """Commands run by scripts inside Redis."""


def observe(server: RedisServer, action: Callable[[], object]) -> Commands:
    """Run ``action`` and return the commands the server executed meanwhile."""
    marker = f"END-OF-MEASUREMENT-{uuid.uuid4().hex}"
    client: list[str] = []
    in_scripts = 0
    with server.client() as marker_client, server.client() as watcher:
        marker_client.ping()  # connected (and its HELLO sent) before the monitor starts
        with watcher.monitor() as monitor:
            action()
            marker_client.echo(marker)
            while True:
                seen = monitor.next_command()
                command = str(seen["command"])
                if command == f"ECHO {marker}":
                    break
                if seen.get("client_type") == "lua":
                    in_scripts += 1
                else:
                    client.append(command.split(" ", 1)[0].upper())
    return Commands(tuple(client), in_scripts)


def test_idle_tick_is_one_script_call_and_k_due_costs_the_same_for_any_k(
    redis_db: RedisServer,
) -> None:
    url, prefix = redis_db.url, f"it-cmds-{uuid.uuid4().hex[:8]}:"
    clock = FakeClock(T0)
    app = memory_broker_app(url, beatcore_key_prefix=prefix)
    due_at = {"warm": T0 + timedelta(seconds=5)}
    due_at.update({f"k{k}": T0 + timedelta(seconds=10 * (i + 1)) for i, k in enumerate(BATCHES)})
    manager = beatcore.connect(url, clock=clock, key_prefix=prefix)
    try:
        for group, at in due_at.items():
            size = int(group[1:]) if group != "warm" else 1
            for i in range(size):
                manager.save(
                    Entry(name=f"{group}-{i:03d}", task="tests.noop",
                          schedule=Interval(timedelta(hours=1), anchor=at))
                )  # fmt: skip
    finally:
        manager.close()

    measured: dict[str, Commands] = {}
    with recording() as recorder:
        scheduler = beatcore.Scheduler(app, clock=clock, holder="cmds-it")
        try:
            scheduler.tick()  # takes the lock; loads what the store loads on first use
            assert scheduler.is_leader
            clock.advance(5)
            scheduler.tick()  # the warm-up entry: every script has been used once
            assert [name for name, _, _ in recorder.sent] == ["warm-000"]

            clock.advance(1)
            measured["idle"] = observe(redis_db, scheduler.tick)
            for i, k in enumerate(BATCHES):
                clock.set(T0 + timedelta(seconds=10 * (i + 1)))
                before = len(recorder.sent)
                measured[f"k={k}"] = observe(redis_db, scheduler.tick)
                assert len(recorder.sent) - before == k, f"the k={k} tick sent a different count"
            clock.advance(1)
            measured["idle again"] = observe(redis_db, scheduler.tick)
        finally:
            scheduler.close()
        drain_task_ids(app)

    print("\ncommands per tick on a real redis-server (client commands | run inside scripts):")
    for label, commands in measured.items():
        names = dict(Counter(commands.client))
        print(f"  {label:>10}: {len(commands.client):2d} {names} | {commands.in_scripts}")
    for k in BATCHES:
        print(f"  per dispatched entry at k={k}: {len(measured[f'k={k}'].client) / k:.3f}")

    assert measured["idle"].client == ("EVALSHA",)
    assert measured["idle again"].client == ("EVALSHA",)
    # an idle tick runs 5 commands in the claim script (6 on the server, RedBeat's tick 4): HMGET
    # the lock's token and holder, PEXPIRE it, HSET last_tick (status), ZRANGEBYSCORE the stale
    # claims (recovery), ZRANGE the first due entry (not due yet: no range of due entries taken)
    assert measured["idle"].in_scripts == measured["idle again"].in_scripts == 5
    sizes = {len(measured[f"k={k}"].client) for k in BATCHES}
    assert len(sizes) == 1, f"client commands grow with k: {measured}"
    assert all(set(measured[f"k={k}"].client) == {"EVALSHA"} for k in BATCHES)
