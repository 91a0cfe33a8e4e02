"""Contract clause of unreadable records (see :class:`beatcore.errors.CorruptRecord`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from beatcore.errors import CorruptRecord
from beatcore.store import Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import T0, ContractBase, PlantCorrupt, every, expect, names


class CorruptRecordContract(ContractBase):
    """An unreadable record is reported once, skipped and kept; the others keep running."""

    def test_corrupt_record_is_reported_skipped_and_kept(
        self, store: Store, clock: FakeClock, plant_corrupt_record: PlantCorrupt
    ) -> None:
        """Store.entries, corrupt_records, claim_due (ClaimResult.corrupt) and get with an
        unreadable due record next to a good one."""
        store.save(every("good", 10))
        plant_corrupt_record("broken", T0)
        expect(names(store.entries()), ["good"], "Store.entries with an unreadable record")
        expect(names(store.corrupt_records()), ["broken"], "Store.corrupt_records")
        lease = self.lead(store)
        clock.advance(10)
        result = self.claim(store, lease, clock())
        expect(names(result.claims), ["good"], "claims next to an unreadable record")
        expect(names(result.corrupt), ["broken"], "ClaimResult.corrupt")
        with pytest.raises(CorruptRecord):
            store.get("broken")
        again = self.claim(store, lease, clock() + timedelta(seconds=1))
        expect(again.corrupt, (), "ClaimResult.corrupt of the next claim (reported once)")
        expect(names(store.corrupt_records()), ["broken"], "corrupt_records (record kept)")

    def test_entries_page_names_unreadable_records(
        self, store: Store, clock: FakeClock, plant_corrupt_record: PlantCorrupt
    ) -> None:
        """Store.entries_page: an unreadable record is its error in its place in name order,
        before and after a claim took it out of the due index; the others read."""
        store.save(every("a", 10))
        plant_corrupt_record("b", T0)
        store.save(every("c", 10))
        for moment in ("before a claim", "after a claim"):
            page = store.entries_page(None, 10)
            kinds = [(type(item).__name__, getattr(item, "name", None)) for item in page]
            expect(len(page), 3, f"Store.entries_page length {moment}")
            assert isinstance(page[1], CorruptRecord), f"{moment}: {kinds}"
            expect(page[1].name, "b", f"name of the unreadable record {moment}")
            assert isinstance(page[0], tuple) and isinstance(page[2], tuple), kinds
            clock.advance(10)
            self.claim(store, self.lead(store), clock())
