"""A one-off saved past its time (runs once at the next tick) and Celery's relative intervals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab as celery_crontab
from celery.schedules import schedule as celery_schedule
from celery.utils.time import remaining
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beatcore import Entry, EntryState, Interval
from beatcore.errors import InvalidEntry, InvalidSchedule
from beatcore.plugins import get_plugins
from beatcore.schedules import Clocked
from beatcore.serializer import schedule_from_dict, schedule_to_dict
from beatcore.static import static_entry
from beatcore.timing import CatchUpSettings, first_run_at, plan_runs, state_after_save
from tests.core.cli_app import START, Cli, make_cli

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


# --- a one-off saved with a time already past ----------------------------------------------


def one_off(at: datetime, **fields: object) -> Entry:
    return Entry(name="once", task="t", schedule=Clocked(at), **fields)  # type: ignore[arg-type]


def test_a_past_one_off_is_due_at_its_time_so_the_next_tick_runs_it() -> None:
    entry = one_off(T0 - timedelta(seconds=1))
    state = state_after_save(None, None, entry, T0, None)
    assert state.next_run_at == T0 - timedelta(seconds=1)
    plan = plan_runs(entry, state, T0 + timedelta(seconds=2), None, CatchUpSettings())
    assert plan.runs == (T0 - timedelta(seconds=1),)
    assert plan.skipped == () and plan.next_run_at is None


def test_a_future_one_off_is_unchanged() -> None:
    entry = one_off(T0 + timedelta(hours=1))
    assert first_run_at(entry, T0, None) == T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    ("fields", "late", "reason"),
    [
        ({"catch_up": "skip"}, 120, "catch_up=skip"),
        ({"misfire_grace": 30.0}, 120, "misfire_grace=30s"),
        ({"catch_up": "all", "misfire_grace": 5.0}, 60, "misfire_grace=5s"),
    ],
)
def test_a_past_one_off_too_late_for_its_policy_is_skipped_and_counted(
    fields: dict[str, object], late: int, reason: str
) -> None:
    entry = one_off(T0, **fields)
    now = T0 + timedelta(seconds=late)
    state = state_after_save(None, None, entry, now, None)
    plan = plan_runs(entry, state, now, None, CatchUpSettings())
    assert plan.runs == ()
    assert [skip.occurrence for skip in plan.skipped] == [T0]
    assert reason in plan.skipped[0].reason
    assert plan.next_run_at is None


@pytest.mark.parametrize(("fields", "late"), [({"catch_up": "skip"}, 10), ({}, 86400)])
def test_a_past_one_off_within_its_policy_runs(fields: dict[str, object], late: int) -> None:
    entry = one_off(T0, **fields)
    now = T0 + timedelta(seconds=late)
    plan = plan_runs(
        entry, state_after_save(None, None, entry, now, None), now, None, CatchUpSettings()
    )
    assert plan.runs == (T0,)


def test_a_one_off_that_ran_does_not_run_again_when_saved_or_reenabled() -> None:
    entry = one_off(T0)
    ran = EntryState(next_run_at=None, last_run_at=T0, total_run_count=1)
    later = T0 + timedelta(hours=1)
    assert state_after_save(entry, ran, entry, later, None) == ran
    disabled = Entry(name="once", task="t", schedule=Clocked(T0), enabled=False)
    assert state_after_save(disabled, ran, entry, later, None).next_run_at is None
    # Moved to another past time it has not run at: it runs once more.
    moved = one_off(T0 + timedelta(minutes=5))
    assert state_after_save(entry, ran, moved, later, None).next_run_at == T0 + timedelta(minutes=5)


def test_a_past_one_off_outside_start_and_end_never_runs() -> None:
    assert (
        first_run_at(one_off(T0, start_at=T0 + timedelta(seconds=1)), T0 + timedelta(hours=1), None)
        is None
    )
    assert (
        first_run_at(one_off(T0, end_at=T0 - timedelta(seconds=1)), T0 + timedelta(hours=1), None)
        is None
    )


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli("memory", tmp_path)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ((), "beat runs it once at its next tick"),
        (("--catch-up", "skip"), "runs it only if its next tick comes within"),
        (("--misfire-grace", "30s"), "later than --misfire-grace 30s: beat skips it"),
        (("--disabled",), "once at its next tick after it is enabled"),
    ],
)
def test_cli_add_at_a_past_time_says_what_beat_will_do(
    cli: Cli, options: tuple[str, ...], says: str
) -> None:
    out = cli.ok("add", "late", "proj.hello", "--at", "2026-01-05 12:58", *options)
    assert "note: --at 2026-01-05T11:58:00+00:00 is 120s past" in out or "is past" in out
    assert says in out
    assert cli.store().state("late").next_run_at == START - timedelta(minutes=2)
    assert "note:" not in cli.ok("add", "soon", "proj.hello", "--at", "+1m")


# --- relative=True ---------------------------------------------------------------------------


def test_relative_hourly_runs_on_the_hour_in_the_entry_zone() -> None:
    hourly = Interval(3600, relative=True)
    assert hourly.next_after(datetime(2026, 1, 5, 10, 17, 3, tzinfo=UTC)) == datetime(
        2026, 1, 5, 11, tzinfo=UTC
    )
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: the hour of Kolkata's clock is at :30 UTC
    start = datetime(2026, 1, 5, 10, 17, tzinfo=UTC).astimezone(kolkata)
    assert hourly.next_after(start) == datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    daily = Interval(timedelta(days=1), relative=True)
    paris = ZoneInfo("Europe/Paris")
    assert daily.next_after(datetime(2026, 1, 5, 18, tzinfo=paris)) == datetime(
        2026, 1, 5, 23, tzinfo=UTC
    )


def test_relative_round_trips_and_plain_intervals_keep_their_bytes() -> None:
    relative = Interval(300, relative=True)
    data = schedule_to_dict(relative)
    assert data == {"type": "interval", "every": 300.0, "relative": True}
    assert schedule_from_dict(json.loads(json.dumps(data))) == relative
    assert schedule_to_dict(Interval(300)) == {"type": "interval", "every": 300.0}
    assert relative != Interval(300)
    assert "relative" in relative.describe()


def test_relative_with_an_anchor_or_not_a_bool_is_refused() -> None:
    with pytest.raises(InvalidSchedule, match="relative=True or an anchor"):
        Interval(60, T0, relative=True)
    with pytest.raises(InvalidSchedule, match="relative must be True or False, got 'yes'"):
        Interval(60, relative="yes")  # type: ignore[arg-type]


def test_celery_schedule_and_beat_schedule_relative_key_agree() -> None:
    plugins = get_plugins()
    from_object = plugins.adapt_schedule(celery_schedule(timedelta(hours=1), relative=True))
    assert from_object == Interval(3600, relative=True)
    for schedule in (3600, timedelta(hours=1), celery_schedule(timedelta(hours=1))):
        item = {"task": "t", "schedule": schedule, "relative": True}
        assert static_entry("e", item, plugins).schedule == Interval(3600, relative=True)
    plain = static_entry("e", {"task": "t", "schedule": 60, "relative": False}, plugins)
    assert plain.schedule == Interval(60)


def test_beat_schedule_relative_on_a_crontab_is_refused_with_a_clear_message() -> None:
    item = {"task": "t", "schedule": celery_crontab(minute=0), "relative": True}
    with pytest.raises(InvalidEntry, match="applies only to an interval"):
        static_entry("e", item, get_plugins())
    with pytest.raises(InvalidEntry, match="must be True or False, got 1"):
        static_entry("e", {"task": "t", "schedule": 60, "relative": 1}, get_plugins())


ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"]
#: 2026 transitions of those zones, around which most starts are drawn.
NEAR = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 4, 4, 15, tzinfo=UTC),
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
]
PERIODS = [30, 59.5, 60, 90, 300, 3600, 5400, 6 * 3600, 86400, 2 * 86400]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone_name=st.sampled_from(ZONES),
    near=st.sampled_from(NEAR),
    shift=st.integers(-2 * 86400, 2 * 86400),
    microseconds=st.integers(0, 999_999),
    every=st.sampled_from(PERIODS),
)
def test_relative_matches_celerys_own_remaining(
    zone_name: str, near: datetime, shift: int, microseconds: int, every: float
) -> None:
    """Our deadline is the one Celery's ``remaining(..., relative=True)`` computes."""
    tz = ZoneInfo(zone_name)
    start = (near + timedelta(seconds=shift, microseconds=microseconds)).astimezone(tz)
    period = timedelta(seconds=every)
    expected = start.astimezone(UTC) + remaining(start, period, now=start, relative=True)
    assert Interval(period, relative=True).next_after(start) == expected


def test_a_beat_schedule_item_may_carry_a_description() -> None:
    """``description`` (shown by list and show) is an Entry field a static item may set."""
    item = {"task": "t", "schedule": 60.0, "description": "nightly cleanup of temp files"}
    entry = static_entry("cleanup", item, get_plugins())
    assert entry.description == "nightly cleanup of temp files"
    with pytest.raises(InvalidEntry, match="description"):
        static_entry("cleanup", {**item, "description": 42}, get_plugins())
