"""A package outside src/ registers a schedule type through ``beatcore_plugins``."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery

from beatcore import Entry, UnknownScheduleType, connect
from beatcore.errors import CorruptRecord
from beatcore.plugins import Plugins, get_plugins
from beatcore.serializer import dumps_entry, loads_entry
from beatcore.testing import FakeClock
from beatcore.timeutil import UTC

THIRD_PARTY = Path(__file__).parent.parent / "thirdparty"


@pytest.fixture
def on_path() -> Iterator[None]:
    sys.path.insert(0, str(THIRD_PARTY))
    yield
    sys.path.remove(str(THIRD_PARTY))


def test_unregistered_type_is_reported_not_guessed() -> None:
    text = '{"v":1,"name":"x","task":"t","schedule":{"type":"nobody.knows"}}'
    with pytest.raises(CorruptRecord) as info:
        loads_entry(text, "x")
    assert "unknown schedule type 'nobody.knows'" in str(info.value)
    assert "entry 'x'" in str(info.value)
    with pytest.raises(UnknownScheduleType):
        Plugins(load_entry_points=False).schedule_type("nobody.knows")


def test_plugin_from_setting_round_trips_through_the_store(on_path: None) -> None:
    app = Celery("thirdparty", set_as_current=False)
    app.conf.beatcore_url = f"memory://thirdparty-{uuid.uuid4()}"
    app.conf.beatcore_plugins = ["beatcore_weekly_example"]
    clock = FakeClock(datetime(2026, 1, 5, 12, 0, 1, tzinfo=UTC))
    store = connect(app, clock=clock)
    from beatcore_weekly_example import EveryNthSecond

    entry = Entry(name="nth", task="tests.add", schedule=EveryNthSecond(15))
    state = store.save(entry)
    assert state.next_run_at == datetime(2026, 1, 5, 12, 0, 15, tzinfo=UTC)
    assert store.get("nth") == entry
    assert loads_entry(dumps_entry(entry), "nth") == entry
    assert "example.every_nth_second" in get_plugins().schedule_types()


def test_plugin_type_drives_a_scheduler(on_path: None) -> None:
    from beatcore.scheduler import Scheduler

    app = Celery("thirdparty", broker="memory://", set_as_current=False)
    app.conf.beatcore_url = f"memory://thirdparty-{uuid.uuid4()}"
    app.conf.beatcore_plugins = "beatcore_weekly_example"
    from beatcore_weekly_example import EveryNthSecond

    app.conf.beat_schedule = {"nth": {"task": "tests.add", "schedule": EveryNthSecond(10)}}
    clock = FakeClock(datetime(2026, 1, 5, 12, 0, 1, tzinfo=UTC))
    scheduler = Scheduler(app, clock=clock, holder="A")
    scheduler.tick()
    clock.advance(9)
    scheduler.tick()
    state = connect(app, clock=clock).state("nth")
    assert state.last_run_at == datetime(2026, 1, 5, 12, 0, 10, tzinfo=UTC)
    assert state.next_run_at == datetime(2026, 1, 5, 12, 0, 20, tzinfo=UTC)
    assert state.total_run_count == 1
    assert clock() - timedelta(seconds=10) < state.last_run_at


def test_a_plugin_that_cannot_read_its_record_gives_a_corrupt_record(on_path: None) -> None:
    """Whatever a plugin's ``from_dict`` raises (here KeyError), the record is reported as
    corrupt, so the store skips that one entry instead of failing the whole claim."""
    plugins = get_plugins()
    plugins.load_modules(["beatcore_weekly_example"])
    text = '{"v":1,"name":"nth","task":"t","schedule":{"type":"example.every_nth_second"}}'
    with pytest.raises(CorruptRecord, match=r"entry 'nth'.*KeyError: 'n'"):
        loads_entry(text, "nth")
