"""Contract clauses of ``save_many`` (see :meth:`beatcore.store.Store.save_many`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from beatcore.batch import SaveManyReport
from beatcore.entry import Entry
from beatcore.errors import InvalidSchedule
from beatcore.schedules import Interval
from beatcore.store import Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import ContractBase, every, expect, names


class NoNextRun(Interval):
    """An interval whose next occurrence cannot be computed: an entry saving cannot store."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NoNextRun:
        """Build one from :meth:`to_dict` output."""
        return cls(data["every"])

    def next_after(self, dt: datetime) -> datetime | None:
        """Refuse: there is no next occurrence."""
        raise InvalidSchedule(f"no next occurrence after {dt.isoformat()} (a test schedule)")


class SaveManyContract(ContractBase):
    """A batch saves each entry as ``save`` would; a bad entry is named, the others saved."""

    def test_save_many_saves_as_save_does(self, store: Store, clock: FakeClock) -> None:
        """Store.save_many: new entries get their first occurrence, an updated one keeps its
        run history, an equal one is left as it is; each state is what Store.state says."""
        store.save(every("kept", 60))
        store.save(every("updated", 60))
        lease = self.lead(store)
        clock.advance(60)
        self.ack_all(store, lease, self.claim(store, lease, clock()).claims, clock())
        ran = store.state("updated")
        report = store.save_many(
            [every("new", 30), every("updated", 60, args=(1,)), every("kept", 60)]
        )
        expect(sorted(report.states), ["kept", "new", "updated"], "SaveManyReport.states")
        expect(dict(report.refused), {}, "SaveManyReport.refused of good entries")
        for name, state in report.states.items():
            expect(store.state(name), state, f"Store.state({name!r}) after Store.save_many")
        expect(report.states["updated"], ran, "the state of an updated entry (timing kept)")
        expect(store.get("updated").args, (1,), "the definition written by Store.save_many")
        expect(
            report.states["new"].next_run_at,
            store.save(every("probe", 30)).next_run_at,
            "first occurrence of a new entry, as Store.save gives it",
        )

    def test_a_bad_entry_is_named_and_the_others_saved(self, store: Store) -> None:
        """Store.save_many: an entry that cannot be stored, or an item that is no entry, is in
        ``refused`` with its reason; every other entry of the batch is saved."""
        bad = Entry(name="bad", task="tests.add", schedule=NoNextRun(60))
        batch: list[Any] = [every("a"), bad, "junk", every("b")]
        report = store.save_many(batch)
        expect(sorted(report.refused), ["bad", "item 2"], "SaveManyReport.refused")
        assert "no next occurrence" in report.refused["bad"], report.refused
        expect(sorted(report.states), ["a", "b"], "SaveManyReport.states")
        expect(names(store.entries()), ["a", "b"], "Store.entries after a batch with bad items")

    def test_a_name_given_twice_is_saved_as_given_last(self, store: Store) -> None:
        """Store.save_many: a name that comes twice in a batch is saved once, the last one."""
        report = store.save_many([every("a", args=(1,)), every("a", args=(2,))])
        expect(store.get("a").args, (2,), "the definition of a name given twice")
        expect(list(report.states), ["a"], "SaveManyReport.states of a name given twice")

    def test_an_empty_batch_does_nothing(self, store: Store) -> None:
        """Store.save_many([]): an empty report, nothing stored."""
        expect(store.save_many([]), SaveManyReport(), "Store.save_many of no entries")
        expect(store.entries(), [], "Store.entries after an empty batch")

    def test_static_entries_in_a_batch_are_static(self, store: Store) -> None:
        """Store.save_many: a static entry is stored static, and the next static sync of the
        same set changes nothing."""
        store.save_many([every("s", 60, static=True), every("d", 60)])
        report = store.sync_static([every("s", 60, static=True)])
        expect(report.unchanged, ("s",), "SyncReport.unchanged after a batch saved it")
        expect(names(store.entries()), ["d", "s"], "the dynamic entry is kept by the sync")
