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
