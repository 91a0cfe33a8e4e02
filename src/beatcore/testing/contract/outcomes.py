"""Contract clause of what workers report: :meth:`Store.record_outcome`, the running fact an
ack writes (``Ack.running``) and the claim returns (``Claim.running``), for stores that set
:attr:`Store.records_outcomes` (the rules are :mod:`beatcore.outcomes`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

from beatcore import timing
from beatcore.store import Ack, Claim, Lease, Running, RunOutcome, RunRecord, Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import T0, ContractBase, every, expect

#: The occurrence the cases send: 10 s after T0.
OCC = T0 + timedelta(seconds=10)
LIMIT = 3600.0


def report(name: str, status: str, at: datetime, **fields: object) -> RunOutcome:
    """A worker's report of the run of ``OCC`` of ``name``."""
    return RunOutcome(name, OCC, timing.task_id(name, OCC), status, at, **fields)  # type: ignore[arg-type]


def running(name: str, sent_at: datetime, **fields: object) -> Running:
    """The running fact of the run of ``OCC`` of ``name``, sent at ``sent_at``."""
    until = sent_at + timedelta(seconds=LIMIT)
    return Running(timing.task_id(name, OCC), OCC, until, LIMIT, **fields)  # type: ignore[arg-type]


def sent_record(name: str, sent_at: datetime) -> RunRecord:
    """Beat's record of the run of ``OCC`` of ``name``."""
    late = (sent_at - OCC).total_seconds()
    return RunRecord(OCC, timing.task_id(name, OCC), "sent", sent_at=sent_at, lateness=late)


class OutcomeContract(ContractBase):
    """Reports update the run's record and the entry's running fact, in one call each."""

    @pytest.fixture
    def outcome_store(self, store: Store) -> Store:
        """The store, skipping these cases when it records no outcomes."""
        if not store.records_outcomes:
            pytest.skip("the store records no worker outcomes (records_outcomes = False)")
        return store

    def claim_one(self, store: Store, lease: Lease, now: datetime) -> Claim:
        """Claim at ``now``; exactly the one entry is due."""
        claims = self.claim(store, lease, now).claims
        expect(len(claims), 1, f"entries claimed at {now.isoformat()}")
        return claims[0]

    def ack_sent(
        self,
        store: Store,
        lease: Lease,
        claim: Claim,
        at: datetime,
        due_at: datetime,
        held: datetime | None = None,
    ) -> Running:
        """Ack ``claim`` as the send of ``OCC`` at ``at``; return the running fact acked."""
        name = claim.entry.name
        fact = running(name, at, held=held)
        store.ack(
            lease,
            [
                Ack(
                    name,
                    claim.state,
                    claim.state,
                    due_at,
                    runs=(sent_record(name, at),),
                    running=fact,
                )
            ],
        )
        return fact

    def sent_entry(self, store: Store, clock: FakeClock, **ack: object) -> tuple[Lease, Running]:
        """Save ``a`` (every 10 s), claim it at OCC and ack its send; due again in an hour."""
        store.save(every("a", 10))
        lease = self.lead(store)
        clock.set(OCC)
        claim = self.claim_one(store, lease, OCC)
        later = OCC + timedelta(hours=1)
        return lease, self.ack_sent(store, lease, claim, OCC, later, **ack)  # type: ignore[arg-type]

    def test_a_report_of_a_missing_entry_changes_nothing(self, store: Store) -> None:
        """Store.record_outcome: a report of an entry that does not exist raises nothing and
        creates nothing (on every store, also one that records no outcomes)."""
        store.record_outcome(report("missing", "started", OCC))
        expect(store.entries(), [], "entries after a report of a missing entry")

    def test_reports_add_the_worker_facts_to_the_run_record(
        self, outcome_store: Store, clock: FakeClock
    ) -> None:
        """A start and an end of a sent run: its record keeps beat's fields and gains status,
        start, end, runtime and worker."""
        store = outcome_store
        self.sent_entry(store, clock)
        started, ended = OCC + timedelta(seconds=1), OCC + timedelta(seconds=3)
        store.record_outcome(report("a", "started", started, worker="w1"))
        expect(store.history("a")[0].status, "started", "status after a start report")
        store.record_outcome(report("a", "succeeded", ended, runtime=2.0, worker="w1"))
        wanted = attrs.evolve(
            sent_record("a", OCC),
            status="succeeded",
            started_at=started,
            finished_at=ended,
            runtime=2.0,
            worker="w1",
        )
        expect(store.history("a"), [wanted], "history after a start and a success")

    def test_a_failed_run_keeps_its_error_and_counts_its_retries(
        self, outcome_store: Store, clock: FakeClock
    ) -> None:
        """Retried, started again, failed: status failed, one retry, the last error."""
        store = outcome_store
        self.sent_entry(store, clock)
        at = OCC + timedelta(seconds=1)
        store.record_outcome(report("a", "started", at))
        store.record_outcome(report("a", "retried", at, runtime=0.5, error="Timeout: slow"))
        store.record_outcome(report("a", "started", at + timedelta(seconds=5)))
        store.record_outcome(
            report("a", "failed", at + timedelta(seconds=6), runtime=1.0, error="ValueError: x")
        )
        (record,) = store.history("a")
        expect(
            (record.status, record.retries, record.error, record.runtime, record.started_at),
            ("failed", 1, "ValueError: x", 1.0, at),
            "status, retries, error, runtime and first start after a retry and a failure",
        )

    def test_reports_before_the_ack_reach_the_record_it_writes(
        self, outcome_store: Store, clock: FakeClock
    ) -> None:
        """A run that starts and ends before beat's ack (a fast task): the record the ack
        writes carries the worker's facts, and its running fact is already ended."""
        store = outcome_store
        store.save(every("a", 10))
        lease = self.lead(store)
        clock.set(OCC)
        claim = self.claim_one(store, lease, OCC)
        store.record_outcome(report("a", "started", OCC, worker="w"))
        store.record_outcome(report("a", "succeeded", OCC, runtime=0.01, worker="w"))
        self.ack_sent(store, lease, claim, OCC, OCC + timedelta(seconds=10))
        (record,) = store.history("a")
        expect(
            (record.outcome, record.sent_at, record.status, record.runtime),
            ("sent", OCC, "succeeded", 0.01),
            "the record an ack wrote after the run's reports",
        )
        clock.advance(10)
        ran = self.claim_one(store, lease, clock()).running
        expect(ran is not None and ran.ended, True, "running fact of a run ended before its ack")

    def test_the_claim_returns_the_running_fact_reports_keep(
        self, outcome_store: Store, clock: FakeClock
    ) -> None:
        """Claim.running: as acked; a start moves ``until`` to its time plus ``limit``; an
        end marks it ended; an ack without ``running`` leaves it as it is."""
        store = outcome_store
        lease, fact = self.sent_entry(store, clock)
        store.trigger("a", OCC)
        claim = self.claim_one(store, lease, OCC)
        expect(claim.running, fact, "Claim.running after the ack that wrote it")
        store.ack(lease, [Ack("a", claim.state, claim.state, OCC + timedelta(hours=1))])
        started = OCC + timedelta(seconds=30)
        store.record_outcome(report("a", "started", started))
        store.trigger("a", started)
        claim = self.claim_one(store, lease, started)
        wanted = attrs.evolve(fact, until=started + timedelta(seconds=LIMIT))
        expect(claim.running, wanted, "Claim.running after a start report")
        store.ack(lease, [Ack("a", claim.state, claim.state, OCC + timedelta(hours=1))])
        store.record_outcome(report("a", "succeeded", started, runtime=1.0))
        store.trigger("a", started)
        claim = self.claim_one(store, lease, started)
        expect(claim.running, attrs.evolve(wanted, ended=True), "Claim.running after an end")

    def test_the_end_of_a_run_an_occurrence_waits_for_makes_it_due_at_once(
        self, outcome_store: Store, clock: FakeClock
    ) -> None:
        """buffer_one: an end report of a run with a held occurrence makes the entry due at
        once (the store does it: no polling); without one the due instant stays."""
        store = outcome_store
        held = OCC + timedelta(seconds=10)
        lease, _ = self.sent_entry(store, clock, held=held)
        clock.advance(5)
        store.record_outcome(report("a", "succeeded", clock(), runtime=5.0))
        claim = self.claim_one(store, lease, clock())
        expect(
            (claim.running.ended, claim.running.held) if claim.running else None,
            (True, held),
            "Claim.running of the entry made due by the end of the run it waited for",
        )
        store.ack(lease, [Ack("a", claim.state, claim.state, OCC + timedelta(hours=1))])
        store.record_outcome(report("a", "succeeded", clock(), runtime=5.0))
        claims = self.claim(store, lease, clock()).claims
        expect(claims, (), "claims after a second end report (nothing held any more is due)")

    def test_an_end_while_beat_holds_an_occurrence_makes_it_due_at_once(
        self, outcome_store: Store, clock: FakeClock
    ) -> None:
        """The run ends between the claim that saw it running and the ack that holds an
        occurrence for it: the ack makes the entry due at once."""
        store = outcome_store
        lease, fact = self.sent_entry(store, clock)
        store.trigger("a", OCC)
        claim = self.claim_one(store, lease, OCC)
        store.record_outcome(report("a", "succeeded", OCC, runtime=1.0))
        held = OCC + timedelta(seconds=10)
        hold = attrs.evolve(fact, held=held)
        later = OCC + timedelta(hours=1)
        store.ack(lease, [Ack("a", claim.state, claim.state, later, running=hold)])
        claim = self.claim_one(store, lease, clock())
        expect(
            (claim.running.ended, claim.running.held) if claim.running else None,
            (True, held),
            "Claim.running of an entry held for a run that ended meanwhile",
        )

    def test_reports_of_other_runs_leave_the_running_fact_and_the_due_index(
        self, outcome_store: Store, clock: FakeClock
    ) -> None:
        """A report of a task id the running fact does not name (an older run, a run never
        recorded) changes neither the running fact nor when the entry is due."""
        store = outcome_store
        lease, fact = self.sent_entry(store, clock, held=OCC + timedelta(seconds=10))
        other = RunOutcome("a", T0, timing.task_id("a", T0), "succeeded", OCC, runtime=1.0)
        store.record_outcome(other)
        expect(self.claim(store, lease, clock()).claims, (), "claims after another run's end")
        store.trigger("a", clock())
        expect(self.claim_one(store, lease, clock()).running, fact, "Claim.running")

    def test_a_delete_drops_the_running_fact(self, outcome_store: Store, clock: FakeClock) -> None:
        """An entry deleted and saved again under its name has no running fact."""
        store = outcome_store
        lease, _ = self.sent_entry(store, clock)
        store.delete("a")
        store.save(every("a", 10))
        store.trigger("a", clock())
        expect(self.claim_one(store, lease, clock()).running, None, "Claim.running")
