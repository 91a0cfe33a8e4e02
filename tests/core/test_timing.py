"""Occurrences, jitter, task ids and catch-up planning."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from beatcore import Crontab, Entry, EntryState, Interval
from beatcore.runs import (
    RunPlan,
    SendOutcome,
    SendStatus,
    state_after_outcomes,
    state_after_sends,
)
from beatcore.timeutil import UTC
from beatcore.timing import (
    TASK_ID_NAMESPACE,
    CatchUpSettings,
    ack_due_at,
    first_run_at,
    jitter_offset,
    plan_runs,
    state_after_dispatch,
    state_due_at,
    task_id,
    timing_changed,
)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_task_id_is_deterministic_per_occurrence() -> None:
    assert task_id("a", T0) == task_id("a", T0.astimezone(UTC))
    assert task_id("a", T0) != task_id("a", T0 + timedelta(seconds=1))
    assert task_id("a", T0) != task_id("b", T0)


@pytest.mark.parametrize("name", ["a", "bench-000001", "caf\u00e9 \u2603", "\U0001f600", ""])
@pytest.mark.parametrize(
    "occurrence",
    [
        T0,
        T0 + timedelta(microseconds=7),
        T0.astimezone(ZoneInfo("America/New_York")),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-3))),
    ],
)
def test_task_id_is_the_uuid5_of_name_and_utc_occurrence(name: str, occurrence: datetime) -> None:
    stamp = occurrence.astimezone(UTC).isoformat()
    assert task_id(name, occurrence) == str(uuid.uuid5(TASK_ID_NAMESPACE, f"{name}\x00{stamp}"))


def test_task_ids_are_pinned() -> None:
    # Ids already on brokers and in result backends: they must never change.
    assert task_id("a", T0) == "db498bf4-3757-5895-b3b6-5c2b280b2ec7"


def test_jitter_is_deterministic_and_bounded() -> None:
    offsets = {jitter_offset("a", T0 + timedelta(minutes=i), 30) for i in range(200)}
    assert all(timedelta(0) <= o < timedelta(seconds=30) for o in offsets)
    assert len(offsets) > 150
    assert jitter_offset("a", T0, 30) == jitter_offset("a", T0, 30)
    assert jitter_offset("a", T0, 0) == timedelta(0)


def test_first_run_respects_start_at() -> None:
    cron = Entry(
        name="c", task="t", schedule=Crontab("0 * * * *"), start_at=T0 + timedelta(hours=5)
    )
    assert first_run_at(cron, T0, "UTC") == T0 + timedelta(hours=5)
    interval = Entry(name="i", task="t", schedule=Interval(60), start_at=T0 + timedelta(hours=1))
    assert first_run_at(interval, T0, "UTC") == T0 + timedelta(hours=1, minutes=1)
    anchored = Entry(
        name="a",
        task="t",
        schedule=Interval(60, anchor=T0 + timedelta(hours=1)),
        start_at=T0 + timedelta(hours=1),
    )
    assert first_run_at(anchored, T0, "UTC") == T0 + timedelta(hours=1)


def test_interval_runs_land_on_whole_seconds() -> None:
    entry = Entry(name="i", task="t", schedule=Interval(5))
    assert first_run_at(entry, T0 + timedelta(microseconds=250), "UTC") == T0 + timedelta(seconds=6)


def test_timing_changed_only_for_what_decides_occurrences() -> None:
    base = Entry(name="e", task="t", schedule=Interval(5))
    assert not timing_changed(base, base.evolve(args=(1,), options={"queue": "q"}))
    assert timing_changed(base, base.evolve(schedule=Interval(6)))
    assert timing_changed(base, base.evolve(tz="Europe/Paris"))
    assert timing_changed(base.evolve(enabled=False), base)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (Interval(5), Interval(5.0)),
        (Interval(5), Interval(timedelta(seconds=5))),
        (Interval(5), Interval(6)),
        (Interval(5), Interval(5, relative=True)),
        (Interval(5, anchor=T0), Interval(5, anchor=T0.astimezone(timezone(timedelta(hours=2))))),
        (Interval(5, anchor=T0), Interval(5, anchor=T0 + timedelta(seconds=1))),
        (Interval(5), Interval(5, anchor=T0)),
        (Interval(60), Crontab("* * * * *")),
    ],
)
def test_an_equal_interval_is_an_unchanged_schedule_exactly_when_its_dict_is(
    old: Interval, new: Interval | Crontab
) -> None:
    # timing_changed compares two Intervals as objects: the same verdict as their dicts'
    same_dicts = (old.type_name, old.to_dict()) == (new.type_name, new.to_dict())
    base = Entry(name="e", task="t", schedule=old)
    assert timing_changed(base, base.evolve(schedule=new)) is not same_dicts
    assert timing_changed(base.evolve(schedule=new), base) is not same_dicts


def test_catch_up_all_is_bounded_by_the_limit() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(1), catch_up="all")
    state = EntryState(next_run_at=T0)
    plan = plan_runs(
        entry, state, T0 + timedelta(seconds=499), "UTC", CatchUpSettings(catch_up_limit=100)
    )
    assert len(plan.runs) == 100
    assert plan.runs[-1] == T0 + timedelta(seconds=499)
    assert len(plan.skipped) == 400
    assert plan.next_run_at == T0 + timedelta(seconds=500)


def test_very_long_downtime_does_not_walk_forever() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(1))
    now = T0 + timedelta(days=30)
    plan = plan_runs(entry, EntryState(next_run_at=T0), now, "UTC", CatchUpSettings())
    assert len(plan.runs) == 1
    assert plan.next_run_at is not None and plan.next_run_at > now


def test_state_after_dispatch_records_the_sends_with_or_without_their_task_ids() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(60), catch_up="all")
    trigger = T0 + timedelta(seconds=90)
    state = EntryState(
        next_run_at=T0,
        total_run_count=2,
        skipped_run_count=1,
        last_error="old",
        triggered_at=trigger,
    )
    plan = plan_runs(entry, state, T0 + timedelta(seconds=130), "UTC", CatchUpSettings())
    sent = list(plan.runs)
    assert sent == [T0, T0 + timedelta(seconds=60), trigger, T0 + timedelta(seconds=120)]
    expected = EntryState(
        next_run_at=T0 + timedelta(seconds=180),
        last_run_at=T0 + timedelta(seconds=120),
        total_run_count=6,
        skipped_run_count=1,
        last_task_id=task_id("e", T0 + timedelta(seconds=120)),
        last_error=None,
        triggered_at=None,
    )
    assert state_after_dispatch(entry, state, plan, sent, None) == expected
    ids = [task_id("e", occ) for occ in sent]
    assert state_after_dispatch(entry, state, plan, sent, None, task_ids=ids) == expected
    # The id of the latest occurrence is the one kept, whatever order the sends were in.
    reordered = state_after_dispatch(
        entry, state, plan, sent[::-1], None, task_ids=["d", "c", "b", "a"]
    )
    assert reordered.last_task_id == "d"


def test_state_after_dispatch_retries_the_first_unsent_occurrence() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(60), catch_up="all")
    trigger = T0 + timedelta(seconds=90)
    state = EntryState(next_run_at=T0, last_error="old", triggered_at=trigger)
    plan = plan_runs(entry, state, T0 + timedelta(seconds=130), "UTC", CatchUpSettings())
    failed = (T0 + timedelta(seconds=60), "send failed: boom")
    after = state_after_dispatch(entry, state, plan, [T0], failed, task_ids=["id-0"])
    assert after == EntryState(
        next_run_at=T0 + timedelta(seconds=60),
        last_run_at=T0,
        total_run_count=1,
        last_task_id="id-0",
        last_error="send failed: boom",
        triggered_at=trigger,
    )
    untried = state_after_dispatch(entry, state, plan, [], (T0, None), task_ids=[])
    assert untried == state.evolve(next_run_at=T0)


def test_state_after_dispatch_wants_one_task_id_per_sent_occurrence() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(60))
    state = EntryState(next_run_at=T0)
    plan = plan_runs(entry, state, T0, "UTC", CatchUpSettings())
    with pytest.raises(ValueError, match="1 task ids for 0 sent occurrences"):
        state_after_dispatch(entry, state, plan, [], None, task_ids=["x"])


def _wall_to_instant_by_definition(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a wall time as the design defines it, found the slow way."""
    first = wall.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant  # it exists (its first occurrence when it happens twice)
    # In a gap: the first instant after it, the transition, found minute by minute.
    step = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = instant.astimezone(tz).utcoffset()
    while step.astimezone(tz).utcoffset() != after:
        step += timedelta(minutes=1)
    return step


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_wall_to_instant_around_the_transitions_of_a_year(zone_name: str) -> None:
    from beatcore.timeutil import wall_to_instant

    tz = ZoneInfo(zone_name)
    start = datetime(2026, 1, 1)
    walls = [start + timedelta(minutes=30 * i) for i in range(365 * 48)]
    changes = [
        w
        for w in walls
        if (w - timedelta(days=1)).replace(tzinfo=tz).utcoffset()
        != w.replace(tzinfo=tz).utcoffset()
    ]
    assert changes, "the zone has transitions in 2026"
    in_gap = 0
    for wall in changes:
        for minutes in range(-90, 91, 10):
            probe = wall + timedelta(minutes=minutes)
            expected = _wall_to_instant_by_definition(probe, tz)
            assert wall_to_instant(probe, tz) == expected, probe
            in_gap += expected.astimezone(tz).replace(tzinfo=None) != probe
    assert in_gap, "some probes fall into a gap"
    assert wall_to_instant(start, UTC) == start.replace(tzinfo=UTC)


def _outcomes(
    entry: Entry, sent: list[datetime], unsent: SendOutcome | None = None
) -> list[SendOutcome]:
    records = [SendOutcome(entry, o, task_id(entry.name, o), SendStatus.SENT) for o in sent]
    return records + ([unsent] if unsent is not None else [])


def test_state_after_dispatch_takes_the_outcome_records_of_the_entry() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(60), catch_up="all")
    trigger = T0 + timedelta(seconds=90)
    state = EntryState(next_run_at=T0, last_error="old", triggered_at=trigger)
    plan = plan_runs(entry, state, T0 + timedelta(seconds=130), "UTC", CatchUpSettings())
    everything = state_after_dispatch(entry, state, plan, _outcomes(entry, list(plan.runs)))
    assert everything.next_run_at == T0 + timedelta(seconds=180)
    assert everything.last_task_id == task_id("e", T0 + timedelta(seconds=120))
    assert (everything.total_run_count, everything.triggered_at) == (4, None)

    boom = OSError("boom")
    failed = SendOutcome(entry, T0 + timedelta(seconds=60), "id-1", SendStatus.FAILED, boom)
    after = state_after_dispatch(entry, state, plan, _outcomes(entry, [T0], failed))
    assert after == EntryState(
        next_run_at=T0 + timedelta(seconds=60),
        last_run_at=T0,
        total_run_count=1,
        last_task_id=task_id("e", T0),
        last_error="send failed: boom",
        triggered_at=trigger,
    )
    untried = SendOutcome(entry, T0, "id-0", SendStatus.NOT_TRIED)
    assert state_after_dispatch(entry, state, plan, [untried]) == state.evolve(next_run_at=T0)
    with pytest.raises(ValueError, match="given an outcome of entry 'other'"):
        state_after_dispatch(entry, state, plan, _outcomes(entry.evolve(name="other"), [T0]))


def test_the_older_state_after_dispatch_call_still_works_and_warns() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(60))
    state = EntryState(next_run_at=T0)
    plan = plan_runs(entry, state, T0, "UTC", CatchUpSettings())
    with pytest.warns(DeprecationWarning, match="pass the entry's SendOutcome records"):
        old = state_after_dispatch(entry, state, plan, [T0], None)
    assert old == state_after_dispatch(entry, state, plan, _outcomes(entry, [T0]))


def test_ack_due_at_is_now_when_untried_later_when_failed_else_when_the_state_says() -> None:
    entry = Entry(name="e", task="t", schedule=Interval(60), jitter=5)
    after = EntryState(next_run_at=T0 + timedelta(seconds=60))
    now = T0 + timedelta(seconds=1)
    sent = _outcomes(entry, [T0])
    untried = SendOutcome(entry, T0, "id", SendStatus.NOT_TRIED)
    failed = SendOutcome(entry, T0, "id", SendStatus.FAILED, OSError("x"))
    assert ack_due_at(entry, after, sent, now, 3.0) == state_due_at(entry, after)
    assert ack_due_at(entry, after, [untried], now, 3.0) == now
    assert ack_due_at(entry, after, [failed], now, 3.0) == now + timedelta(seconds=3)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"catch_up": "all"},
        {"catch_up": "skip", "misfire_grace": 0.0},
        {"end_at": T0 - timedelta(days=1)},
        {"enabled": False},
        {"jitter": 30.0},
    ],
)
@pytest.mark.parametrize("next_run_at", [T0 + timedelta(hours=1), None])
@pytest.mark.parametrize("recovered", [False, True])
def test_a_claim_with_nothing_fallen_due_sends_its_trigger_alone(
    changes: dict[str, object], next_run_at: datetime | None, recovered: bool
) -> None:
    """Nothing is missed (next_run_at after now, or none): whatever the policies, the plan
    is the pending trigger (or nothing), no skip, and next_run_at stays."""
    entry = Entry(name="a", task="t", schedule=Interval(3600), **changes)  # type: ignore[arg-type]
    now = T0 + timedelta(minutes=5)
    for trigger in (T0, None):
        state = EntryState(next_run_at=next_run_at, triggered_at=trigger, total_run_count=3)
        plan = plan_runs(entry, state, now, "UTC", CatchUpSettings(), recovered=recovered)
        assert plan.runs == (() if trigger is None else (trigger,))
        assert plan.skipped == ()
        assert plan.next_run_at == next_run_at
    limited = Entry(name="a", task="t", schedule=Interval(3600), max_runs=3)
    state = EntryState(next_run_at=next_run_at, triggered_at=T0, total_run_count=3)
    plan = plan_runs(limited, state, now, "UTC", CatchUpSettings())
    assert (plan.runs, [s.kind for s in plan.skipped], plan.next_run_at) == ((), ["max_runs"], None)


def test_task_id_is_the_uuid5_for_many_names_and_instants() -> None:
    """Every digit of the id, the version's and the variant's included, over many digests."""
    for i in range(2000):
        name, occurrence = f"entry-{i}", T0 + timedelta(seconds=i, microseconds=i % 3)
        stamp = occurrence.isoformat()
        expected = str(uuid.uuid5(TASK_ID_NAMESPACE, f"{name}\x00{stamp}"))
        assert task_id(name, occurrence) == expected


def test_the_state_after_one_sent_outcome_is_the_state_after_its_send() -> None:
    """state_after_outcomes' quick path (one outcome, sent, nothing skipped) gives what
    state_after_sends gives it, over states with and without a trigger, error or counts."""
    entry = Entry(name="e", task="t", schedule=Interval(10))
    later = T0 + timedelta(seconds=10)
    for state in (
        EntryState(next_run_at=T0),
        EntryState(next_run_at=T0, triggered_at=T0),
        EntryState(next_run_at=later, triggered_at=T0, total_run_count=4, skipped_run_count=2),
        EntryState(next_run_at=T0, triggered_at=later, last_error="send failed: x"),
        EntryState(next_run_at=T0, last_run_at=T0, last_task_id="old", total_run_count=1),
    ):
        for next_run_at in (later, None):
            plan = RunPlan(runs=(T0,), skipped=(), next_run_at=next_run_at)
            sent = SendOutcome(entry, T0, "id-0", SendStatus.SENT)
            expected = state_after_sends(state, plan, [(T0, "id-0")], None, None)
            assert state_after_outcomes(state, plan, [sent]) == expected
