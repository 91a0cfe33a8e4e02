"""The occurrences missed during a long downtime: listed within a bound, counted exactly."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beatcore import Crontab, Entry, EntryState, Interval, missed, timing
from beatcore.runs import CatchUpSettings, skipped_count
from beatcore.timeutil import UTC

T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # Europe/Paris springs forward in the window


def walk(entry: Entry, first: datetime, until: datetime) -> list[datetime]:
    """Every occurrence from ``first`` through ``until``, one step at a time."""
    found: list[datetime] = []
    occ: datetime | None = first
    while occ is not None and occ <= until:
        found.append(occ)
        occ = timing.occurrence_after(entry, occ, "UTC")
    return found


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> int:
    """List at most 50 occurrences one by one, so a short downtime goes past the bound."""
    monkeypatch.setattr(missed, "MAX_ENUMERATED_OCCURRENCES", 50)
    return 50


ENTRIES = [
    Entry(name="fixed-step", task="t", schedule=Interval(7)),
    Entry(name="anchored", task="t", schedule=Interval(90, anchor=T0 + timedelta(seconds=13))),
    Entry(name="relative", task="t", schedule=Interval(60, relative=True), tz="Europe/Paris"),
    Entry(name="cron", task="t", schedule=Crontab("*/3 * * * *"), tz="Europe/Paris"),
    Entry(name="ends", task="t", schedule=Interval(5), end_at=T0 + timedelta(minutes=30)),
]


@pytest.mark.usefixtures("small_bound")
@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    index=st.sampled_from(range(len(ENTRIES))),
    down=st.integers(min_value=0, max_value=4 * 3600),
    keep=st.integers(min_value=1, max_value=12),
)
def test_listed_and_counted_occurrences_are_exactly_the_walked_ones(
    index: int, down: int, keep: int
) -> None:
    """Listed first ones + counted gap + listed last ``keep`` = every occurrence, in order."""
    entry = ENTRIES[index]
    first = timing.occurrence_after(entry, T0, "UTC")
    assert first is not None
    now = T0 + timedelta(seconds=down)
    expected = walk(entry, first, now)
    found = missed.missed_occurrences(
        entry, first, now, lambda o: timing.occurrence_after(entry, o, "UTC"), keep=keep
    )
    assert len(found.due) + found.omitted == len(expected)
    if found.omitted:
        assert found.gap_after is not None
        split = found.due.index(found.gap_after) + 1
        assert found.due[:split] == expected[:split]
        assert found.due[split:] == expected[len(expected) - keep :]
        assert found.following == timing.occurrence_after(entry, now, "UTC")
    else:
        assert found.due == expected


def test_a_month_down_of_a_one_second_entry_is_counted_without_a_walk() -> None:
    """2.6 million missed seconds: 10,000 listed, the rest counted, the latest one runs."""
    entry = Entry(name="every-second", task="t", schedule=Interval(1))
    state = EntryState(next_run_at=T0)
    now = T0 + timedelta(days=30)
    plan = timing.plan_runs(entry, state, now, "UTC", CatchUpSettings())
    assert plan.runs == (now,)
    assert skipped_count(plan.skipped) == 30 * 86400  # T0 .. now - 1 s
    assert len(plan.skipped) == missed.MAX_ENUMERATED_OCCURRENCES + 1  # and the last skipped
    assert plan.skipped[-1].occurrence == now - timedelta(seconds=1)
    assert plan.next_run_at == now + timedelta(seconds=1)


def test_catch_up_all_sends_the_latest_occurrences_after_a_long_downtime() -> None:
    entry = Entry(name="all", task="t", schedule=Interval(1), catch_up="all")
    state = EntryState(next_run_at=T0)
    now = T0 + timedelta(hours=5)
    plan = timing.plan_runs(entry, state, now, "UTC", CatchUpSettings(catch_up_limit=3))
    assert plan.runs == tuple(now - timedelta(seconds=s) for s in (2, 1, 0))
    assert skipped_count(plan.skipped) == 5 * 3600 + 1 - 3
