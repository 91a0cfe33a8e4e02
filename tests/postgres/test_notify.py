"""Changes pushed to a sleeping leader: NOTIFY on every management write, LISTEN in the wait
between ticks, and the scheduler's wait woken by it. On the real server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from beatcore import Scheduler
from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.store import Ack
from beatcore.testing import FakeClock, drain_task_ids, memory_broker_app
from beatcore_postgres.plugin import open_store
from beatcore_postgres.store import PostgresStore
from tests.support.postgres_server import PostgresServer

#: A wait no test ever sits out: a woken wait returns long before it.
LONG = 60.0


def every(name: str, seconds: float = 3600, **fields: Any) -> Entry:
    return Entry(name=name, task="tests.add", schedule=Interval(seconds), **fields)


@pytest.fixture
def other(
    postgres_server: PostgresServer, pg_schema: str, clock: FakeClock
) -> Iterator[PostgresStore]:
    """A second store on the same schedule: the management client of another process."""
    store = open_store(postgres_server.url, {"clock": clock, "schema": pg_schema})
    yield store
    store.close()


def woken_by(waiter: PostgresStore, change: Callable[[], None]) -> bool:
    """Start a long wait on ``waiter``, make ``change``, return what the wait answered."""
    assert waiter.wait_for_change(0.0) in (True, False)  # connects and LISTENs
    while waiter.wait_for_change(0.0):
        pass  # drop what earlier writes announced
    answer: list[bool] = []
    thread = threading.Thread(target=lambda: answer.append(waiter.wait_for_change(LONG)))
    thread.start()
    change()
    thread.join(LONG + 10)
    assert answer, "the wait did not return"
    return answer[0]


@pytest.mark.parametrize(
    "change",
    ["save", "delete", "disable", "trigger", "sync_static"],
)
def test_every_management_write_wakes_a_waiting_leader(
    pg_store: PostgresStore, other: PostgresStore, change: str
) -> None:
    other.save(every("a"))
    actions: dict[str, Callable[[], None]] = {
        "save": lambda: other.save(every("b")),
        "delete": lambda: other.delete("a"),
        "disable": lambda: other.set_enabled("a", False),
        "trigger": lambda: other.trigger("a"),
        "sync_static": lambda: other.sync_static([every("s", static=True)]),
    }
    assert woken_by(pg_store, actions[change]) is True


def test_a_write_that_changes_nothing_and_the_leaders_own_ack_stay_quiet(
    pg_store: PostgresStore, other: PostgresStore, clock: FakeClock
) -> None:
    other.save(every("a", 60))
    pg_store.wait_for_change(0.0)
    while pg_store.wait_for_change(0.0):
        pass
    other.save(every("a", 60))  # the same definition: nothing written
    lease = pg_store.lock.acquire("leader", 30)
    assert lease is not None
    clock.advance(60)
    (claim,) = pg_store.claim_due(lease, clock(), limit=10, reclaim_after=30).claims
    pg_store.ack(lease, [Ack("a", claim.state, claim.state.evolve(total_run_count=1), None)])
    assert pg_store.wait_for_change(0.3) is False


def test_the_listener_survives_a_server_restart(
    postgres_server: PostgresServer, pg_store: PostgresStore, other: PostgresStore
) -> None:
    other.save(every("a"))
    pg_store.wait_for_change(0.0)
    postgres_server.restart()
    assert pg_store.wait_for_change(0.2) is False  # the connection broke: slept instead
    assert woken_by(pg_store, lambda: other.save(every("b"))) is True


def test_the_scheduler_waits_through_the_store_and_ticks_at_once_after_a_change(
    postgres_server: PostgresServer, pg_schema: str
) -> None:
    url = f"{postgres_server.url}?schema={pg_schema}"
    app = memory_broker_app(url, beat_max_loop_interval=LONG, beatcore_lock_ttl=3 * LONG)
    scheduler = Scheduler(app, holder="leader")
    client = open_store(url, {})
    store = scheduler.store
    answers: list[bool] = []
    wait = store.wait_for_change

    def first_wait_only(timeout: float) -> bool:
        if answers:
            return False  # later ticks of this test do not wait
        answers.append(wait(timeout))
        return answers[-1]

    store.wait_for_change = first_wait_only  # type: ignore[method-assign]
    try:
        client.save(every("later"))
        ticked: list[float] = []

        def beat() -> None:
            # a tick that claims a trigger returns 0 (tick again) without waiting; the first
            # one that finds nothing due waits up to LONG seconds ...
            while not answers:
                ticked.append(scheduler.tick())

        thread = threading.Thread(target=beat)
        thread.start()
        while not answers and thread.is_alive():
            client.trigger("later")  # ... unless a change from another process wakes it
            thread.join(0.2)
        thread.join(LONG + 10)
        assert answers == [True], (ticked, scheduler.lease)
        assert ticked[-1] == 0.0  # the next tick runs at once, not after LONG seconds
        scheduler.tick()
        assert len(drain_task_ids(app)) >= 1
    finally:
        client.close()
        scheduler.close()
