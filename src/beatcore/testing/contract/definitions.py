"""Contract clauses of definitions: ``save``, ``get``, ``delete``, ``entries``, ``state``,
``set_enabled`` and ``trigger`` (see :class:`beatcore.store.Store`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from beatcore.entry import Entry
from beatcore.errors import EntryNotFound
from beatcore.schedules import Crontab
from beatcore.store import Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import T0, ContractBase, every, expect, names


class DefinitionsContract(ContractBase):
    """Definitions are stored whole, listed by name, and keep their state across updates."""

    def test_save_and_get_round_trip(self, store: Store, clock: FakeClock) -> None:
        """Store.save / Store.get: every field of a definition comes back equal."""
        entry = Entry(
            name="report",
            task="tests.report",
            schedule=Crontab("30 2 * * MON-FRI"),
            args=(1, "a"),
            kwargs={"k": [1, 2]},
            options={"queue": "q", "priority": 3},
            tz="Europe/Berlin",
            catch_up="all",
            misfire_grace=30,
            jitter=5,
            max_runs=9,
            start_at=T0,
            end_at=T0 + timedelta(days=30),
        )
        store.save(entry)
        expect(store.get("report"), entry, "Store.get after Store.save")
        expect(names(store.entries()), ["report"], "Store.entries after one save")

    def test_new_entry_gets_its_first_occurrence(self, store: Store, clock: FakeClock) -> None:
        """Store.save: a new entry gets its first occurrence after now, no runs counted."""
        state = store.save(every("a", 60))
        expect(state.next_run_at, T0 + timedelta(seconds=60), "next_run_at of a new entry")
        expect(store.state("a"), state, "Store.state equals what Store.save returned")
        expect(state.total_run_count, 0, "total_run_count of a new entry")

    def test_missing_entry_raises_entry_not_found(self, store: Store) -> None:
        """Store.get/state/delete/trigger/set_enabled: an unknown name raises EntryNotFound."""
        for call in (store.get, store.state, store.delete, store.trigger):
            with pytest.raises(EntryNotFound):
                call("nope")
        with pytest.raises(EntryNotFound):
            store.set_enabled("nope", False)

    def test_delete_removes_entry_and_state(self, store: Store) -> None:
        """Store.delete: the entry and its state are gone, the others stay."""
        store.save(every("a"))
        store.save(every("b"))
        store.delete("a")
        expect(names(store.entries()), ["b"], "Store.entries after deleting 'a'")
        with pytest.raises(EntryNotFound):
            store.state("a")

    def test_entries_are_sorted_by_name(self, store: Store) -> None:
        """Store.entries: every readable entry, sorted by name."""
        for name in ("c", "a", "b"):
            store.save(every(name))
        expect(names(store.entries()), ["a", "b", "c"], "Store.entries order")

    def test_entries_page_walks_names_in_order(self, store: Store) -> None:
        """Store.entries_page: pages of ``limit`` records after a name, either way, each
        with its state; the last name of a page starts the next."""
        for name in ("d", "b", "a", "e", "c"):
            store.save(every(name))

        def page(after: str | None, descending: bool = False) -> list[str]:
            items = store.entries_page(after, 2, descending=descending)
            for item in items:
                assert isinstance(item, tuple), f"Store.entries_page gave {item!r}"
                expect(item[1], store.state(item[0].name), "state in Store.entries_page")
            return [item[0].name for item in items if isinstance(item, tuple)]

        expect(page(None), ["a", "b"], "first page")
        expect(page("b"), ["c", "d"], "page after 'b'")
        expect(page("d"), ["e"], "last page")
        expect(page("e"), [], "page after the last name")
        expect(page(None, True), ["e", "d"], "first page, descending")
        expect(page("b", True), ["a"], "page before 'b', descending")

    def test_update_keeps_state_unless_timing_changes(self, store: Store, clock: FakeClock) -> None:
        """Store.save of an existing name: the state is kept unless the timing changed, and
        then only next_run_at is recomputed (counters and last run kept)."""
        store.save(every("a", 60))
        lease = self.lead(store)
        clock.advance(61)
        self.ack_all(store, lease, self.claim(store, lease, clock()).claims, clock())
        kept = store.state("a")
        expect(kept.total_run_count, 1, "total_run_count after one acked run")

        store.save(every("a", 60, args=(2,)))
        expect(store.state("a"), kept, "state after a save that changes only args")

        clock.advance(5)
        store.save(every("a", 300))
        changed = store.state("a")
        expect(
            changed.next_run_at,
            clock() + timedelta(seconds=300),
            "next_run_at after a save that changes the schedule",
        )
        expect(changed.total_run_count, 1, "total_run_count after a schedule change")
        expect(changed.last_run_at, kept.last_run_at, "last_run_at after a schedule change")

    def test_disabled_entry_is_not_claimed(self, store: Store, clock: FakeClock) -> None:
        """Store.set_enabled(False): the entry keeps its definition and is never due."""
        store.save(every("a", 60))
        store.save(every("b", 60))
        store.set_enabled("a", False)
        expect(store.get("a").enabled, False, "enabled after set_enabled(False)")
        lease = self.lead(store)
        clock.advance(120)
        expect(names(self.claim(store, lease, clock()).claims), ["b"], "claims with 'a' off")

    def test_reenabling_reschedules_from_now(self, store: Store, clock: FakeClock) -> None:
        """Store.set_enabled(True): the next occurrence is computed from now (no catch-up)."""
        store.save(every("a", 60))
        store.set_enabled("a", False)
        clock.advance(3600)
        store.set_enabled("a", True)
        expect(
            store.state("a").next_run_at,
            clock() + timedelta(seconds=60),
            "next_run_at after re-enabling",
        )
        lease = self.lead(store)
        expect(self.claim(store, lease, clock()).claims, (), "claims right after re-enabling")

    def test_trigger_makes_entry_due_now_keeping_its_schedule(
        self, store: Store, clock: FakeClock
    ) -> None:
        """Store.trigger: due at once (a disabled entry too), the next occurrence unchanged."""
        store.save(every("a", 3600))
        store.save(every("off", 3600, enabled=False))
        store.trigger("a")
        store.trigger("off")
        lease = self.lead(store)
        claimed = {c.entry.name: c.state for c in self.claim(store, lease, clock()).claims}
        expect(set(claimed), {"a", "off"}, "entries claimed after trigger")
        expect(claimed["a"].triggered_at, T0, "triggered_at of the claimed state")
        expect(claimed["a"].next_run_at, T0 + timedelta(hours=1), "next_run_at after trigger")
