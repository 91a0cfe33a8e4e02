"""beatcore.operations: each management operation makes its store call and logs the change."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

import beatcore
from beatcore import ChangeRefused, Entry, EntryNotFound, Interval
from beatcore.errors import StoreUnavailable
from beatcore.operations import (
    MAX_REASON_LENGTH,
    Operations,
    actor,
    changed_fields,
    pause_of,
)
from beatcore.startup import record_static_sync
from beatcore.store import Change, Store, SyncReport
from beatcore.stores.memory import MemoryStore
from beatcore.testing import FakeClock, forget_memory_schedule
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
BY = "ada@ops1"


def every(name: str, seconds: float = 60, **fields: object) -> Entry:
    return Entry(name=name, task="proj.hello", schedule=Interval(seconds), **fields)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(clock: FakeClock) -> Iterator[MemoryStore]:
    forget_memory_schedule("operations")
    yield MemoryStore("operations", clock=clock)
    forget_memory_schedule("operations")


@pytest.fixture
def ops(store: Store, clock: FakeClock) -> Operations:
    return Operations(store, clock=clock)


def actions(store: Store, name: str | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.name, c.action, c.fields) for c in store.changes(name)]


def test_save_adds_logs_and_refuses_an_existing_name_without_replace(
    ops: Operations, store: Store, clock: FakeClock
) -> None:
    done = ops.save(every("a"), by=BY)
    assert (done.action, done.state and done.state.next_run_at) == (
        "added", T0 + timedelta(seconds=60),
    )  # fmt: skip
    assert done.change == Change("a", "add", T0, by=BY)
    assert store.changes("a") == [done.change]
    with pytest.raises(ChangeRefused) as refused:
        ops.save(every("a", 30), by=BY)
    assert refused.value.kind == "exists" and "already exists" in str(refused.value)
    clock.advance(5)
    replaced = ops.save(every("a", 30, kwargs={"token": "s3cret"}), by=BY, replace=True)
    assert (replaced.action, replaced.changed) == ("replaced", ("kwargs", "schedule"))
    assert actions(store, "a")[0] == ("a", "update", ("kwargs", "schedule"))
    assert "s3cret" not in store.changes("a")[0].to_json()  # field names, never values
    again = ops.save(every("a", 30, kwargs={"token": "s3cret"}), by=BY, replace=True)
    assert (again.action, again.change) == ("unchanged", None)
    assert len(store.changes("a")) == 2


def test_static_entries_are_refused_unless_forced(ops: Operations, store: Store) -> None:
    store.save(every("s", static=True))
    for attempt in (
        lambda: ops.save(every("s", 30), by=BY, replace=True),
        lambda: ops.edit("s", {"jitter": 1.0}, by=BY),
        lambda: ops.delete("s", by=BY),
    ):
        with pytest.raises(ChangeRefused, match="is static") as refused:
            attempt()
        assert refused.value.kind == "static"
    assert store.changes() == []
    assert ops.edit("s", {"jitter": 1.0}, by=BY, force=True).action == "updated"
    assert ops.delete("s", by=BY, force=True).action == "deleted"
    assert actions(store, "s") == [("s", "delete", ()), ("s", "update", ("jitter",))]


def test_edit_applies_queue_and_logs_only_what_changed(ops: Operations, store: Store) -> None:
    store.save(every("a", options={"priority": 3}))
    done = ops.edit("a", {"queue": "fast", "jitter": 2.0}, by=BY)
    assert done.entry is not None and done.entry.options == {"priority": 3, "queue": "fast"}
    assert (done.action, done.changed) == ("updated", ("jitter", "options"))
    same = ops.edit("a", {"queue": "fast"}, by=BY)
    assert (same.action, same.change) == ("unchanged", None)
    assert ops.edit("a", {"queue": "none"}, by=BY).entry.options == {"priority": 3}  # type: ignore[union-attr]
    assert [c.fields for c in store.changes("a")] == [("options",), ("jitter", "options")]


def test_disable_with_a_reason_then_enable(ops: Operations, store: Store, clock: FakeClock) -> None:
    store.save(every("report"))
    done = ops.disable("report", by=BY, reason="  the API is down, INC-42 ")
    assert done.action == "disabled" and done.entry is not None and not done.entry.enabled
    assert not store.get("report").enabled
    assert done.change == Change("report", "disable", T0, by=BY, reason="the API is down, INC-42")
    assert ops.disable("report", by=BY, reason="again").action == "unchanged"
    assert pause_of(store.changes("report")) == done.change
    clock.advance(60)
    assert ops.enable("report", by="bob@ops2").action == "enabled"
    assert store.get("report").enabled
    assert pause_of(store.changes("report")) is None
    assert [c.action for c in store.changes("report")] == ["enable", "disable"]


def test_a_reason_too_long_or_not_text_is_refused_naming_the_field(
    ops: Operations, store: Store
) -> None:
    store.save(every("a"))
    with pytest.raises(ChangeRefused, match=f"at most {MAX_REASON_LENGTH}") as refused:
        ops.disable("a", by=BY, reason="x" * (MAX_REASON_LENGTH + 1))
    assert (refused.value.kind, refused.value.field) == ("reason", "reason")
    with pytest.raises(ChangeRefused, match="must be text"):
        ops.disable("a", by=BY, reason=42)  # type: ignore[arg-type]
    assert store.get("a").enabled and store.changes() == []


def test_trigger_delete_and_the_log_of_a_deleted_entry(
    ops: Operations, store: Store, clock: FakeClock
) -> None:
    store.save(every("a"))
    fired = ops.trigger("a", by=BY, reason="rerun after the fix")
    assert fired.action == "triggered" and fired.task_id is not None
    assert store.state("a").triggered_at == T0
    clock.advance(1)
    gone = ops.delete("a", by="bob@ops2")
    assert gone.action == "deleted" and gone.entry == every("a")
    with pytest.raises(EntryNotFound):
        store.get("a")
    (deleted, triggered) = store.changes("a")
    later = T0 + timedelta(seconds=1)
    assert (deleted.action, deleted.by, deleted.at) == ("delete", "bob@ops2", later)
    assert (triggered.action, triggered.reason) == ("trigger", "rerun after the fix")
    with pytest.raises(EntryNotFound):
        ops.disable("a", by=BY)


def test_import_writes_in_one_batch_and_logs_each_change(ops: Operations, store: Store) -> None:
    store.save(every("same"))
    store.save(every("old", 10))
    result = ops.import_entries(
        [every("same"), every("old", 20), every("new"), every("s", static=True)], by=BY
    )
    assert [(i.name, i.action, i.changed) for i in result.items] == [
        ("same", "unchanged", ()),
        ("old", "update", ("schedule",)),
        ("new", "add", ()),
        ("s", "skip", ()),
    ]
    assert result.written == 2 and not result.refused
    assert sorted(actions(store)) == [("new", "add", ()), ("old", "update", ("schedule",))]
    assert {c.via for c in store.changes()} == {"import"}
    dry = ops.import_entries([every("other")], by=BY, dry_run=True)
    assert dry.written == 1 and store.changes("other") == []
    with pytest.raises(EntryNotFound):
        store.get("other")


class _LogDown(MemoryStore):
    def record_changes(self, changes: Sequence[Change]) -> None:
        raise StoreUnavailable("memory://down is unreachable")


def test_a_change_that_cannot_be_logged_is_made_and_says_so(clock: FakeClock) -> None:
    """The log write comes after the change: when it fails the change stands and the
    result warns, naming the store's error."""
    store = _LogDown("down", clock=clock)
    try:
        store.save(every("a"))
        done = Operations(store, clock=clock).disable("a", by=BY, reason="r")
        assert done.action == "disabled" and not store.get("a").enabled
        assert len(done.warnings) == 1 and "not written to the change log" in done.warnings[0]
        assert "memory://down is unreachable" in done.warnings[0]
    finally:
        forget_memory_schedule("down")


def test_beats_static_sync_is_logged_as_beat_at_host(store: Store) -> None:
    report = SyncReport(added=("n",), updated=("u",), removed=("r",), unchanged=("same",))
    assert record_static_sync(store, report, T0) == ()
    found = {c.name: c for c in store.changes()}
    assert sorted(found) == ["n", "r", "u"]
    assert {(c.action, c.via, c.by) for c in found.values()} == {
        ("add", "beat_schedule", actor("beat")),
        ("update", "beat_schedule", actor("beat")),
        ("delete", "beat_schedule", actor("beat")),
    }
    assert actor("beat").startswith("beat@")


def test_changed_fields_sees_a_field_cleared() -> None:
    assert changed_fields(every("a", description="x"), every("a")) == ("description",)
    assert changed_fields(every("a"), every("a")) == ()


def test_beat_logs_what_its_start_changed_and_nothing_when_nothing_did(
    beatcore_app: Any, beatcore_recorder: Any
) -> None:
    """A real scheduler's start: the static sync's additions, edits and removals are in the
    change log as beat@host via beat_schedule; a restart with the same beat_schedule logs none."""
    from beatcore.scheduler import Scheduler

    beatcore_app.conf.beat_schedule = {
        "a": {"task": "tests.add", "schedule": 10.0},
        "b": {"task": "tests.add", "schedule": 20.0},
    }
    clock = FakeClock(T0)
    Scheduler(beatcore_app, clock=clock, holder="A").close()
    beatcore_app.conf.beat_schedule = {
        "a": {"task": "tests.add", "schedule": 15.0},
        "c": {"task": "tests.add", "schedule": 20.0},
    }
    clock.advance(60)
    Scheduler(beatcore_app, clock=clock, holder="B").close()
    Scheduler(beatcore_app, clock=clock, holder="C").close()  # nothing changed
    with beatcore.connect(beatcore_app, clock=clock) as store:
        logged = [(c.name, c.action, c.at - T0) for c in store.changes()]
        assert {(c.by, c.via) for c in store.changes()} == {(actor("beat"), "beat_schedule")}
    minute = timedelta(seconds=60)
    assert sorted(logged) == [
        ("a", "add", timedelta(0)),
        ("a", "update", minute),
        ("b", "add", timedelta(0)),
        ("b", "delete", minute),
        ("c", "add", minute),
    ]
