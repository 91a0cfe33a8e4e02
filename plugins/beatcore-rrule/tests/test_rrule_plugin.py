"""The plugin as installed: entry point, serializer, memory store and a scheduler."""

from __future__ import annotations

import importlib.metadata
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from dateutil import rrule as du
from rrule_support import utc

from beatcore import Entry, connect, timing
from beatcore.errors import CorruptRecord, InvalidSchedule
from beatcore.plugins import Plugins, get_plugins
from beatcore.scheduler import Scheduler
from beatcore.schedules import ScheduleType, describe
from beatcore.serializer import dumps_entry, loads_entry, schedule_from_dict, schedule_to_dict
from beatcore.testing import DispatchRecorder, FakeClock, forget_memory_schedule
from beatcore_rrule import RRule


def test_found_through_the_installed_entry_point() -> None:
    points = importlib.metadata.entry_points(group="beatcore")
    assert [p.value for p in points if p.name == "rrule"] == ["beatcore_rrule.plugin"]
    assert get_plugins().schedule_type("rrule") is RRule
    # A fresh manager loading only entry points finds it too, and one that does not, does not.
    assert Plugins().schedule_type("rrule") is RRule
    assert "rrule" not in Plugins(load_entry_points=False).schedule_types()


def test_rrule_fulfils_the_structural_protocol() -> None:
    rule = RRule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", tz="Europe/Berlin")
    assert isinstance(rule, ScheduleType)
    assert describe(rule) == "daily at 09:00, Europe/Berlin"


def test_serializer_round_trip() -> None:
    rule = RRule("DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE")
    assert schedule_to_dict(rule) == {
        "type": "rrule",
        "rule": "FREQ=WEEKLY;BYDAY=MO,WE",
        "dtstart": "2026-01-05T09:00:00",
        "tz": "Europe/Berlin",
    }
    assert schedule_from_dict(schedule_to_dict(rule)) == rule
    entry = Entry(name="standup", task="tests.add", schedule=rule, tz="Europe/Berlin")
    assert loads_entry(dumps_entry(entry), "standup") == entry


def test_unreadable_rrule_record_names_entry_and_field() -> None:
    text = '{"v":1,"name":"bad","task":"t","schedule":{"type":"rrule","rule":"FREQ=OFTEN"}}'
    with pytest.raises(CorruptRecord) as info:
        loads_entry(text, "bad")
    assert "entry 'bad'" in str(info.value)
    assert "rrule FREQ must be one of" in str(info.value)


def test_memory_store_round_trip_and_first_run() -> None:
    name = f"rrule-store-{uuid.uuid4()}"
    clock = FakeClock(utc(2026, 3, 27, 12))
    store = connect(f"memory://{name}", clock=clock)
    try:
        rule = RRule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30")
        state = store.save(
            Entry(name="nightly", task="tests.add", schedule=rule, tz="Europe/Berlin")
        )
        assert state.next_run_at == utc(2026, 3, 28, 1, 30)
        again = connect(f"memory://{name}", clock=clock)
        assert again.get("nightly").schedule == rule
        assert [entry.name for entry in again.entries()] == ["nightly"]
    finally:
        forget_memory_schedule(name)


def test_dateutil_rrule_is_adapted() -> None:
    plugins = get_plugins()
    obj = du.rrule(
        du.DAILY,
        byhour=9,
        byminute=0,
        dtstart=datetime(2026, 1, 5, tzinfo=ZoneInfo("Europe/Berlin")),
    )
    adapted = plugins.adapt_schedule(obj, entry_name="x")
    assert adapted == RRule(
        "FREQ=DAILY;BYHOUR=9;BYMINUTE=0", dtstart=datetime(2026, 1, 5), tz="Europe/Berlin"
    )
    with pytest.raises(InvalidSchedule, match="naive dtstart"):
        plugins.adapt_schedule(du.rrule(du.DAILY, dtstart=datetime(2026, 1, 5)), entry_name="x")
    assert plugins.hook.beatcore_adapt_schedule(obj=object()) is None


def test_scheduler_fires_weekly_rule_at_its_instants_across_dst(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(utc(2026, 3, 22, 12))  # a Sunday
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A")
    store = connect(beatcore_app, clock=clock)
    rule = RRule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0", tz="Europe/Berlin")
    store.save(Entry(name="standup", task="tests.add", schedule=rule))
    expected = [utc(2026, 3, 23, 8), utc(2026, 3, 25, 8), utc(2026, 3, 30, 7), utc(2026, 4, 1, 7)]
    for due in expected:
        clock.set(due - timedelta(seconds=1))
        scheduler.tick()
        clock.set(due)
        scheduler.tick()
    assert beatcore_recorder.occurrences("standup") == expected
    assert [task_id for _, _, task_id in beatcore_recorder.sent] == [
        timing.task_id("standup", due) for due in expected
    ]
    assert store.state("standup").next_run_at == utc(2026, 4, 6, 7)


def test_scheduler_fires_a_gap_time_once_in_the_entry_zone(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beat_schedule = {
        "nightly": {
            "task": "tests.add",
            "schedule": RRule("FREQ=HOURLY;BYMINUTE=0,30"),
            "tz": "Europe/Berlin",
        }
    }
    clock = FakeClock(utc(2026, 3, 28, 23, 50))  # 00:50 CET on the night clocks go forward
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A")
    scheduler.tick()
    for _ in range(12):  # two hours in ten-minute ticks
        clock.advance(600)
        scheduler.tick()
    # 01:00, 01:30 CET, then 02:00 and 02:30 (which do not exist) once at 03:00 CEST, 03:30.
    assert beatcore_recorder.occurrences("nightly") == [
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 30),
    ]


def test_scheduler_stops_an_exhausted_rule(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(utc(2026, 1, 5, 7))
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A")
    store = connect(beatcore_app, clock=clock)
    rule = RRule("DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=DAILY;COUNT=2")
    store.save(Entry(name="twice", task="tests.add", schedule=rule))
    for _ in range(4):
        clock.advance(24 * 3600)
        scheduler.tick()
    assert beatcore_recorder.occurrences("twice") == [utc(2026, 1, 5, 8), utc(2026, 1, 6, 8)]
    state = store.state("twice")
    assert state.next_run_at is None
    assert state.total_run_count == 2


def test_dateutil_rrule_in_beat_schedule_becomes_a_static_rrule_entry(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    beatcore_app.conf.beat_schedule = {
        "report": {
            "task": "tests.add",
            "schedule": du.rrule(
                du.DAILY, byhour=9, byminute=0, dtstart=datetime(2026, 1, 1, tzinfo=berlin)
            ),
        },
        "broken": {
            "task": "tests.add",
            "schedule": du.rrule(du.DAILY, dtstart=datetime(2026, 1, 1)),
        },
    }
    clock = FakeClock(utc(2026, 1, 5, 7))
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A")
    scheduler.tick()
    store = connect(beatcore_app, clock=clock)
    assert [entry.name for entry in store.entries()] == ["report"]  # the naive one is refused
    entry = store.get("report")
    assert entry.static
    assert entry.schedule == RRule(
        "FREQ=DAILY;BYHOUR=9;BYMINUTE=0", dtstart=datetime(2026, 1, 1), tz="Europe/Berlin"
    )
    clock.set(utc(2026, 1, 5, 8))
    scheduler.tick()
    assert beatcore_recorder.occurrences("report") == [utc(2026, 1, 5, 8)]


def test_rule_without_any_zone_follows_the_app_timezone(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.timezone = "America/New_York"
    clock = FakeClock(utc(2026, 3, 7, 12))
    scheduler = Scheduler(beatcore_app, clock=clock, holder="A")
    store = connect(beatcore_app, clock=clock)
    store.save(
        Entry(name="early", task="tests.add", schedule=RRule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30"))
    )
    for _ in range(2 * 24 * 6):  # two days in ten-minute ticks, over the spring-forward night
        clock.advance(600)
        scheduler.tick()
    # From 07:00 EST on 7 March: 02:30 on 8 March does not exist and fires at 03:00 EDT.
    assert beatcore_recorder.occurrences("early") == [utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]
