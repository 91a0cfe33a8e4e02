"""Contract clause of the static sync (see :meth:`beatcore.store.Store.sync_static`)."""

from __future__ import annotations

from beatcore.store import Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import ContractBase, every, expect, names


class StaticSyncContract(ContractBase):
    """The static entries become those given; dynamic entries and ``keep`` are untouched."""

    def test_static_sync_adds_updates_removes_and_keeps_dynamic(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.sync_static: new ones added, changed ones updated with their state kept,
        static ones not given removed, dynamic ones and names in ``keep`` left alone."""
        store.save(every("dynamic", 60))
        report = store.sync_static([every("s1", 60, static=True), every("s2", 60, static=True)])
        expect(sorted(report.added), ["s1", "s2"], "SyncReport.added of the first sync")
        s1_state = store.state("s1")

        report = store.sync_static(
            [every("s1", 60, static=True, args=(1,)), every("s3", 60, static=True)]
        )
        expect(report.added, ("s3",), "SyncReport.added")
        expect(report.updated, ("s1",), "SyncReport.updated")
        expect(report.removed, ("s2",), "SyncReport.removed")
        expect(store.state("s1"), s1_state, "state of the updated static entry")
        expect(names(store.entries()), ["dynamic", "s1", "s3"], "entries after the sync")

        report = store.sync_static([every("s1", 60, static=True, args=(1,))], keep=["s3"])
        expect(report.unchanged, ("s1",), "SyncReport.unchanged")
        expect(report.removed, (), "SyncReport.removed with s3 in keep")
        expect(names(store.entries()), ["dynamic", "s1", "s3"], "entries after a kept sync")
