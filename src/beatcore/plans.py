"""A tick's plans of its claimed entries, made once per distinct definition and state.

Entries due together very often share everything but their name: the same schedule object
(built-in schedules are shared, :mod:`beatcore.schedules.shared`), the same state (the
serializer gives one state object for one stored text) and the same policies; a midnight
burst is 100,000 of them. Their plan (:func:`beatcore.timing.plan_runs`, then
:func:`beatcore.overlap.plan_overlap`) is then one and the same immutable value, so
:class:`TickPlans` makes it once per distinct combination and hands it to each of them.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from beatcore import timing
from beatcore.entry import Entry
from beatcore.overlap import OverlapPlan, plan_overlap
from beatcore.store import Claim

#: Most distinct plans kept per state object: entries sharing a state text but of many
#: definitions (a hundred cron lines due at one midnight) are compared with that many at most.
SHARED_PER_STATE = 8


class TickPlans:
    """The plans of one tick's claims, all at the claim's ``now``; one per dispatch.

    Holds at most one plan per claim of the tick (it is dropped with the tick), so it is
    bounded by the claim's page size.

    :param default_tz: the scheduler's time zone (``timezone`` setting).
    :param catch_up: the scheduler's catch-up settings.
    :param tracked: whether runs report their end (``beatcore_track_runs``).
    """

    def __init__(
        self,
        now: datetime,
        default_tz: str | tzinfo | None,
        catch_up: timing.CatchUpSettings,
        *,
        tracked: bool,
    ) -> None:
        self._now = now
        self._tz = default_tz
        self._catch_up = catch_up
        self._tracked = tracked
        #: By id of the claimed state (each claim kept, so its state's id is not reused).
        self._plans: dict[int, list[tuple[Claim, OverlapPlan]]] = {}
        #: Plans made (the others were shared): for tests.
        self.made = 0

    def plan(self, claim: Claim) -> OverlapPlan:
        """Return what the tick sends and skips of ``claim``: its catch-up plan, then its
        overlap policy's.

        Shared with an earlier claim of the tick whose plan cannot differ: one whose state
        and schedule are the very same objects and whose definition agrees on every field
        the plan reads. A claim with a jitter (its instants depend on the name), a running
        run or recovered from a dead leader is planned on its own, and so is one with nothing
        fallen due (a manual trigger: plan_runs plans it at once, and triggered states differ
        by their trigger instants).
        """
        entry, state = claim.entry, claim.state
        next_run_at = state.next_run_at
        if (
            entry.jitter > 0
            or claim.recovered
            or claim.running is not None
            or next_run_at is None
            or next_run_at > self._now
        ):
            return self._make(claim)
        # the claims of this tick with this very state object (their plans), usually none
        same_state = self._plans.get(id(state))
        if same_state is None:
            made = self._make(claim)
            self._plans[id(state)] = [(claim, made)]
            return made
        for other, made in same_state:
            if _same_plan(other.entry, entry):
                return made
        made = self._make(claim)
        if len(same_state) < SHARED_PER_STATE:
            same_state.append((claim, made))
        return made

    def _make(self, claim: Claim) -> OverlapPlan:
        self.made += 1
        plan = timing.plan_runs(
            claim.entry, claim.state, self._now, self._tz, self._catch_up, recovered=claim.recovered
        )
        return plan_overlap(claim.entry, claim, plan, self._now, tracked=self._tracked)


def _same_plan(one: Entry, other: Entry) -> bool:
    """True when two entries with the same state plan alike: the same schedule object and
    every field plan_runs and plan_overlap read but the name (only a jitter reads it, and
    an entry with one is planned alone)."""
    return (
        one.schedule is other.schedule
        and one.enabled == other.enabled
        and one.tz == other.tz
        and one.end_at == other.end_at
        and one.max_runs == other.max_runs
        and one.catch_up == other.catch_up
        # by repr: 0 == -0.0, but a skip's reason spells the grace ("-0s")
        and repr(one.misfire_grace) == repr(other.misfire_grace)
        and one.overlap == other.overlap
    )
