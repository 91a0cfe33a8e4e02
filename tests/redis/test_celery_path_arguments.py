"""A message sent through Celery's own path gets copies of the entry's kwargs.

A store may hand out one decoded Entry for every claim of an unchanged definition (the Redis
store's definition cache), so whatever Celery's path receives must not be the Entry's own
dict: a ``before_task_publish`` receiver that edits the body's kwargs in place (or a Task
subclass whose ``apply_async`` does) would otherwise change every later send of the entry.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery.signals import before_task_publish

from beatcore import Entry, Interval, connect
from beatcore.scheduler import Scheduler
from beatcore.testing import FakeClock, forget_memory_schedule, memory_broker_app
from beatcore.testing.contract import T0
from tests.support.redis_servers import RedisServer

pytestmark = [pytest.mark.timeout(60), pytest.mark.redis_server]


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_receiver_editing_the_body_kwargs_does_not_change_the_next_send(
    store: str, redis_db: RedisServer
) -> None:
    url = f"memory://celery-path-{uuid.uuid4().hex[:8]}"
    if store == "redis":
        url = redis_db.url_for(1)
    app = memory_broker_app(url)
    seen: list[dict[str, Any]] = []

    def edit(body: Any = None, **_: Any) -> None:
        kwargs = body[1]
        seen.append(dict(kwargs))
        kwargs["added_by_receiver"] = True

    before_task_publish.connect(edit, weak=False)
    clock = FakeClock(T0)
    try:
        schedule = connect(app, clock=clock)
        # countdown: sent through Celery's own path (apply_async)
        entry = Entry("e", "tests.add", Interval(10), kwargs={"x": 1}, options={"countdown": 5})
        schedule.save(entry)
        scheduler = Scheduler(app, clock=clock, holder="A")
        try:
            for _ in range(3):
                clock.advance(10)
                scheduler.tick()
        finally:
            scheduler.close()
        assert seen == [{"x": 1}] * 3
        assert schedule.get("e").kwargs == {"x": 1}
    finally:
        before_task_publish.disconnect(edit)
        forget_memory_schedule(url)
