"""Contract clause of the change log: :meth:`Store.record_changes` and :meth:`Store.changes`,
bounded per name by :attr:`Store.change_log_size`, outliving the entry it names."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from beatcore.store import Change, Store
from beatcore.testing.contract.base import T0, ContractBase, every, expect


def change(name: str, seconds: float, action: str = "update", **fields: Any) -> Change:
    """The change of ``name`` made ``seconds`` after T0 (by ``tests@host`` unless given)."""
    fields.setdefault("by", "tests@host")
    return Change(name, action, T0 + timedelta(seconds=seconds), **fields)


class ChangeLogContract(ContractBase):
    """Each recorded change is kept per name, newest first, the oldest dropped past the bound."""

    #: False for a store that keeps no change log (its log is always empty).
    keeps_change_log: bool = True

    @pytest.fixture
    def log_store(self, store: Store) -> Store:
        """The store, skipping the change-log cases when it keeps none."""
        if not self.keeps_change_log:
            pytest.skip("the store keeps no change log (keeps_change_log = False)")
        return store

    def test_the_change_log_starts_empty(self, store: Store) -> None:
        """Store.changes: ``[]`` before anything was recorded, with or without a name (on every
        store, also one that keeps no log), and for a name that never existed."""
        expect(store.changes(), [], "Store.changes() of a new store")
        expect(store.changes("missing"), [], "Store.changes('missing')")

    def test_changes_read_back_newest_first_with_every_field(self, log_store: Store) -> None:
        """Store.record_changes keeps each change whole; Store.changes(name) returns that
        name's, newest first, at most ``limit``."""
        store = log_store
        store.save(every("a"))
        added = change("a", 0, "add")
        paused = change("a", 5, "disable", reason="the API is down \u2014 INC-42")
        edited = change("a", 9, fields=("kwargs", "schedule"), via="import")
        store.record_changes([added, paused])
        store.record_changes([change("b", 7, "add", by=None), edited])
        expect(store.changes("a"), [edited, paused, added], "Store.changes('a')")
        expect(store.changes("a", limit=2), [edited, paused], "Store.changes('a', limit=2)")
        expect(store.changes("b"), [change("b", 7, "add", by=None)], "Store.changes('b')")

    def test_changes_without_a_name_are_the_whole_schedules(self, log_store: Store) -> None:
        """Store.changes(): every name's changes, newest first, at most ``limit``."""
        store = log_store
        store.record_changes([change("a", 1, "add"), change("b", 2, "add")])
        store.record_changes([change("a", 3, "trigger")])
        expect(
            [(c.name, c.action) for c in store.changes()],
            [("a", "trigger"), ("b", "add"), ("a", "add")],
            "Store.changes() across names",
        )
        expect(len(store.changes(limit=2)), 2, "Store.changes(limit=2)")

    def test_the_log_is_bounded_per_name_by_change_log_size(self, log_store: Store) -> None:
        """Store.change_log_size: at most that many changes of each name, the newest; a name
        with few changes keeps them all, and 0 keeps none."""
        store = log_store
        store.change_log_size = 3
        store.record_changes([change("quiet", 0, "add")])
        for second in range(1, 6):
            store.record_changes([change("busy", second, "trigger")])
        store.record_changes([change("busy", 10 + s, "trigger") for s in range(10)])
        expect(
            [c.at for c in store.changes("busy")],
            [T0 + timedelta(seconds=s) for s in (19, 18, 17)],
            "changes of 'busy' with change_log_size=3 after fifteen changes",
        )
        expect(store.changes("quiet"), [change("quiet", 0, "add")], "changes of 'quiet'")
        store.change_log_size = 0
        store.record_changes([change("other", 30, "add")])
        expect(store.changes("other"), [], "changes recorded with change_log_size=0")

    def test_the_log_outlives_the_entry(self, log_store: Store) -> None:
        """Deleting an entry (Store.delete, or the static sync removing it) keeps its log, so
        who deleted it stays readable; an entry saved again under the name continues it."""
        store = log_store
        store.save(every("a"))
        store.save(every("s", static=True))
        store.record_changes([change("a", 0, "add"), change("s", 0, "add")])
        store.delete("a")
        store.record_changes([change("a", 5, "delete")])
        store.sync_static([])
        store.record_changes([change("s", 6, "delete", via="beat_schedule")])
        expect([c.action for c in store.changes("a")], ["delete", "add"], "log of deleted 'a'")
        expect([c.action for c in store.changes("s")], ["delete", "add"], "log of removed 's'")
        store.save(every("a"))
        store.record_changes([change("a", 9, "add")])
        expect(len(store.changes("a")), 3, "log of 'a' saved again")

    def test_a_second_instance_reads_the_log(self, log_store: Store, second_store: Any) -> None:
        """What one instance records, another on the same data reads."""
        log_store.record_changes([change("a", 0, "disable", reason="maintenance")])
        expect(
            second_store.changes("a"),
            [change("a", 0, "disable", reason="maintenance")],
            "Store.changes on a second instance",
        )
