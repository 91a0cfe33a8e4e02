"""Contract clause of what beat asks at start: revive unreadable records, keep its info.

See :meth:`Store.unreadable_records`, :meth:`Store.retry_unreadable`,
:meth:`Store.record_beat` and :meth:`Store.beat_info`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest

from beatcore.entry import Entry
from beatcore.hookspecs import hookimpl
from beatcore.plugins import get_plugins
from beatcore.store import BeatInfo, Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import T0, ContractBase, every, expect, names


class _Revivable:
    """A schedule type the revive test registers, takes away and registers again."""

    type_name: ClassVar[str] = "beatcore.testing.revivable"

    def __init__(self, every: float) -> None:
        self.every = every

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Revivable) and other.every == self.every

    def __hash__(self) -> int:
        return hash(self.every)

    def to_dict(self) -> dict[str, Any]:
        return {"every": self.every}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Revivable:
        return cls(float(data["every"]))

    def next_after(self, dt: datetime) -> datetime | None:
        return dt + timedelta(seconds=self.every)


class _ComesAndGoes:
    @hookimpl
    def beatcore_schedule_types(self) -> list[type[Any]]:
        return [_Revivable]


_COMES_AND_GOES = _ComesAndGoes()


class ReviveContract(ContractBase):
    """An entry beat could not read comes back once it reads; what beat says at start is kept."""

    #: False when the store does not record since when a record is unreadable.
    records_unreadable_since: bool = True
    #: False while the store keeps the defaults of unreadable_records/retry_unreadable.
    revives_unreadable: bool = True
    #: False while the store keeps the defaults of record_beat/beat_info (nothing kept).
    keeps_beat_info: bool = True

    def test_unreadable_entry_revives_once_its_schedule_type_is_back(
        self, store: Store, clock: FakeClock
    ) -> None:
        """An entry whose type's plugin is missing is taken out at its claim and noted (why,
        and since when where the store records it), also for a process that reads it;
        ``retry_unreadable`` puts it back once it reads, due as stored."""
        if not self.revives_unreadable:
            pytest.skip("the store keeps no record of unreadable entries (revives_unreadable)")
        plugins = get_plugins()
        plugins.register(_COMES_AND_GOES)
        store.save(Entry(name="late", task="tests.add", schedule=_Revivable(30)))
        store.save(every("good", 10))
        plugins.unregister(_COMES_AND_GOES)
        try:
            lease = self.lead(store)
            clock.advance(30)
            taken = self.claim(store, lease, clock())
            expect(names(taken.corrupt), ["late"], "ClaimResult.corrupt (type not registered)")
            (error,) = store.corrupt_records()
            (noted,) = store.unreadable_records()
            expect(noted.name, "late", "Store.unreadable_records after the claim")
            assert "beatcore.testing.revivable" in noted.cause, noted.cause
            if self.records_unreadable_since:
                expect((error.since, noted.since), (clock(), clock()), "CorruptRecord.since")
            plugins.register(_COMES_AND_GOES)
            expect(store.corrupt_records(), [], "corrupt_records once this process reads it")
            expect(names(store.unreadable_records()), ["late"], "unreadable_records (as noted)")
            plugins.unregister(_COMES_AND_GOES)
            expect(store.retry_unreadable(clock()), [], "retry_unreadable while still unreadable")
            plugins.register(_COMES_AND_GOES)
            clock.advance(5)
            expect(store.retry_unreadable(clock()), ["late"], "retry_unreadable once it reads")
            expect(store.unreadable_records(), [], "unreadable_records after the retry")
            again = self.claim(store, lease, clock())
            expect(names(again.claims), ["late"], "the revived entry is claimed")
            expect(again.claims[0].state.next_run_at, T0 + timedelta(seconds=30), "its run")
        finally:
            plugins.unregister(_COMES_AND_GOES)

    def test_beat_info_is_kept_until_the_next_start(self, store: Store, clock: FakeClock) -> None:
        """What the scheduler records at start is read back whole; the next start replaces it."""
        if not self.keeps_beat_info:
            pytest.skip("the store keeps no beat info (keeps_beat_info)")
        expect(store.beat_info(), None, "Store.beat_info before any beat started")
        first = BeatInfo("host:1:start", clock(), ("crontab", "interval"))
        store.record_beat(first)
        expect(store.beat_info(), first, "Store.beat_info after record_beat")
        second = BeatInfo("host:2:start", clock() + timedelta(seconds=5), ("interval", "rrule"))
        store.record_beat(second)
        expect(store.beat_info(), second, "Store.beat_info after the next start")
