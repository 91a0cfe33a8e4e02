"""A tick plans the entries that share their definition and state once (beatcore.plans)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from beatcore import Entry, Interval, timing
from beatcore import plans as plans_module
from beatcore.entry import EntryState
from beatcore.overlap import plan_overlap
from beatcore.plans import TickPlans
from beatcore.store import Claim, Running
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=5, seconds=1)
HOURLY = Interval(timedelta(hours=1), anchor=T0)
DUE = EntryState(next_run_at=T0)
SETTINGS = timing.CatchUpSettings()


def _claim(name: str, state: EntryState = DUE, **fields: Any) -> Claim:
    recovered = fields.pop("recovered", False)
    running = fields.pop("running", None)
    fields.setdefault("schedule", HOURLY)
    entry = Entry(name=name, task="tasks.report", **fields)
    return Claim(entry, state, recovered=recovered, running=running)


def _alone(claim: Claim, *, tracked: bool = True) -> Any:
    plan = timing.plan_runs(
        claim.entry, claim.state, NOW, "UTC", SETTINGS, recovered=claim.recovered
    )
    return plan_overlap(claim.entry, claim, plan, NOW, tracked=tracked)


def _plans(tracked: bool = True) -> TickPlans:
    return TickPlans(NOW, "UTC", SETTINGS, tracked=tracked)


def test_entries_sharing_definition_and_state_are_planned_once() -> None:
    plans = _plans()
    claims = [_claim(f"e{i}", catch_up="all") for i in range(50)]
    got = [plans.plan(claim) for claim in claims]
    assert plans.made == 1
    assert all(plan is got[0] for plan in got)
    assert got[0] == _alone(claims[0])
    assert len(got[0].plan.runs) == 6  # T0 .. T0 + 5h, catch_up=all


def test_entries_that_differ_get_their_own_plans() -> None:
    """Another state object (even an equal one), another schedule or another field the plan
    reads: each planned on its own, each as if alone."""
    plans = _plans()
    claims = [
        _claim("a"),
        _claim("b", EntryState(next_run_at=T0)),  # equal, not the same object
        _claim("c", EntryState(next_run_at=T0 + timedelta(hours=5))),
        _claim("d", schedule=Interval(timedelta(minutes=30), anchor=T0)),
        _claim("e", catch_up="all"),
        _claim("f", catch_up="skip"),
        _claim("g", misfire_grace=10.0),
        _claim("h", max_runs=3),
        _claim("i", end_at=T0 + timedelta(hours=2)),
        _claim("j", enabled=False),
        _claim("k", tz="Europe/Paris"),
        _claim("l", overlap="skip", catch_up="all"),
    ]
    for claim in claims:
        assert plans.plan(claim) == _alone(claim)
    assert plans.made == len(claims)


def test_an_equal_grace_spelt_apart_gets_its_own_plan() -> None:
    """misfire_grace 0 and -0.0 are equal, but a skip's reason spells the grace: each entry
    gets its own words (as planned alone)."""
    plans = _plans()
    zero, negative = _claim("z", misfire_grace=0), _claim("n", misfire_grace=-0.0)
    assert plans.plan(zero) == _alone(zero)
    assert plans.plan(negative) == _alone(negative)
    assert plans.made == 2


def test_jitter_recovered_and_running_claims_are_planned_alone() -> None:
    """A jitter depends on the name; a recovered claim and a running run on the claim."""
    plans = _plans()
    jittered = [_claim(f"j{i}", jitter=600.0, catch_up="skip") for i in range(5)]
    recovered = [_claim(f"r{i}", recovered=True) for i in range(3)]
    run = Running("t", T0 - timedelta(hours=1), NOW + timedelta(hours=1), 3600.0)
    running = [_claim(f"s{i}", overlap="skip", catch_up="all", running=run) for i in range(3)]
    for claim in [*jittered, *recovered, *running]:
        assert plans.plan(claim) == _alone(claim)
    assert plans.made == 11


def test_untracked_overlap_is_planned_as_allow() -> None:
    plans = _plans(tracked=False)
    claims = [_claim(f"e{i}", overlap="skip", catch_up="all") for i in range(3)]
    for claim in claims:
        assert plans.plan(claim) == _alone(claim, tracked=False)
    assert len(plans.plan(claims[0]).plan.runs) == 6
    assert plans.made == 1


def test_the_plans_kept_per_state_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many definitions sharing one state: each still planned as if alone, and each claim
    compared with SHARED_PER_STATE plans at most."""
    monkeypatch.setattr(plans_module, "SHARED_PER_STATE", 3)
    plans = _plans()
    claims = [_claim(f"e{i}", max_runs=10 + i) for i in range(10)]
    for claim in claims:
        assert plans.plan(claim) == _alone(claim)
    assert len(plans._plans[id(DUE)]) == 3
    assert plans.plan(_claim("again", max_runs=11)) == _alone(claims[1])
    assert plans.made == 10
