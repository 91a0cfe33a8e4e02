"""The store kit: the one place stored bytes become records, and the rules stores share."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from beatcore import serializer, storekit
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.schedules import Interval
from beatcore.store import Ack
from beatcore.stores.memory import MemoryStore
from beatcore.testing import FakeClock, forget_memory_schedule, plant_memory_record
from beatcore.testing.contract import T0

GOOD_STATE = serializer.dumps_state(EntryState(next_run_at=T0))


def good_entry(name: str = "x", **fields: object) -> Entry:
    return Entry(name=name, task="t", schedule=Interval(60), **fields)  # type: ignore[arg-type]


GOOD_ENTRY = serializer.dumps_entry(good_entry())
#: The same definition with every field, as releases before compact records wrote it.
FULL_ENTRY = json.dumps(
    serializer.entry_to_dict(good_entry()), separators=(",", ":"), sort_keys=True
)

# Each of these made a store call raise something other than CorruptRecord before the kit.
HOSTILE_STATES = {
    "huge number": '{"v":1,"total_run_count":1e400}',
    "huge integer": '{"v":1,"skipped_run_count":' + "9" * 5000 + "}",
    "NaN count": '{"v":1,"total_run_count":NaN}',
    "deep nesting": '{"v":1,"last_error":' + "[" * 100_000 + "]" * 100_000 + "}",
    "task id of the wrong type": '{"v":1,"last_task_id":{"a":1}}',
    "error of the wrong type": '{"v":1,"last_error":[1]}',
}
HOSTILE_ENTRIES = {
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "deep nesting inside": FULL_ENTRY.replace(
        '"args":[]', '"args":' + "[" * 100_000 + "]" * 100_000
    ),
    "schedule of the wrong type": FULL_ENTRY.replace(
        FULL_ENTRY[FULL_ENTRY.index('"schedule":') : FULL_ENTRY.index(',"start_at"')],
        '"schedule":[1,2]',
    ),
    "not UTF-8": b'{"v":1,"name":"x\xff\xfe"}',
    "max_runs too large": FULL_ENTRY.replace('"max_runs":null', '"max_runs":1e400'),
    "jitter NaN": FULL_ENTRY.replace('"jitter":0.0', '"jitter":NaN'),
}


@pytest.mark.parametrize("state_raw", HOSTILE_STATES.values(), ids=HOSTILE_STATES.keys())
def test_any_state_bytes_decode_to_a_record_or_a_corrupt_record(state_raw: str) -> None:
    found = storekit.decode_record("x", GOOD_ENTRY, state_raw)
    assert isinstance(found, CorruptRecord), found
    assert found.name == "x"
    assert found.cause.startswith("state: ") or "JSON" in found.cause


@pytest.mark.parametrize("entry_raw", HOSTILE_ENTRIES.values(), ids=HOSTILE_ENTRIES.keys())
def test_any_definition_bytes_decode_to_a_record_or_a_corrupt_record(
    entry_raw: str | bytes,
) -> None:
    found = storekit.decode_record("x", entry_raw, GOOD_STATE)
    assert isinstance(found, CorruptRecord), found
    assert found.name == "x"


def test_good_record_decodes_and_missing_parts_are_named() -> None:
    record = storekit.decode_record("x", GOOD_ENTRY, GOOD_STATE)
    assert record == storekit.Record(good_entry(), EntryState(next_run_at=T0))
    missing = storekit.decode_record("x", GOOD_ENTRY, None)
    assert isinstance(missing, CorruptRecord) and "state: missing" in missing.cause
    assert isinstance(storekit.decode_record("x", None, GOOD_STATE), CorruptRecord)


@pytest.fixture
def memory_store(fake_clock: FakeClock) -> Iterator[MemoryStore]:
    name = f"kit-{uuid.uuid4()}"
    yield MemoryStore(name, clock=fake_clock)
    forget_memory_schedule(name)


@pytest.mark.parametrize("state_raw", HOSTILE_STATES.values(), ids=HOSTILE_STATES.keys())
def test_memory_claim_isolates_a_hostile_record_from_its_batch(
    memory_store: MemoryStore, fake_clock: FakeClock, state_raw: str
) -> None:
    """A claim returns the good entries of the batch and reports the bad one once."""
    for name in ("a", "c"):
        memory_store.save(good_entry(name))
    plant_memory_record(memory_store, "b", serializer.dumps_entry(good_entry("b")), state_raw, T0)
    lease = memory_store.lock.acquire("t", 30)
    assert lease is not None
    fake_clock.advance(60)
    result = memory_store.claim_due(lease, fake_clock(), limit=10, reclaim_after=30)
    assert [c.entry.name for c in result.claims] == ["a", "c"]
    assert [e.name for e in result.corrupt] == ["b"]
    again = memory_store.claim_due(lease, fake_clock(), limit=10, reclaim_after=30)
    assert again.corrupt == ()
    assert [e.name for e in memory_store.corrupt_records()] == ["b"]
    assert memory_store.status().corrupt_count == 1


def test_micros_round_trip_every_form_a_backend_hands_back() -> None:
    at = T0 + timedelta(microseconds=7)
    micros = storekit.to_micros(at)
    assert storekit.to_micros(None) is None
    for value in (micros, float(micros), str(micros), str(micros).encode(), f"{micros}.0"):
        assert storekit.from_micros(value) == at
    assert storekit.from_micros(None) is None


def test_text() -> None:
    assert storekit.text(None) == ""
    assert storekit.text(b"a\xc3\xa9") == "aé"
    assert storekit.text("a") == "a"
    assert storekit.text(b"a\xff", "surrogateescape").encode("utf-8", "surrogateescape") == b"a\xff"


def test_decide_save_keeps_state_unless_timing_changes() -> None:
    old = good_entry()
    state = EntryState(next_run_at=T0, total_run_count=3)
    stored = storekit.Record(old, state)
    assert storekit.decide_save(old, stored, T0, None) == (state, False)
    kept = storekit.decide_save(good_entry(args=(1,)), stored, T0, None)
    assert kept == (state, True)
    moved = storekit.decide_save(good_entry(enabled=False), stored, T0, None)
    assert moved.changed and moved.state == state
    new = storekit.decide_save(old, CorruptRecord("x", "bad"), T0, None)
    assert new == (EntryState(next_run_at=T0 + timedelta(seconds=60)), True)


def test_static_sync_plan_removes_only_readable_static_entries() -> None:
    def raw(entry: Entry) -> tuple[str, str]:
        return serializer.dumps_entry(entry), GOOD_STATE

    stored = {
        "old-static": raw(good_entry("old-static", static=True)),
        "dynamic": raw(good_entry("dynamic")),
        "kept": raw(good_entry("kept", static=True)),
        "unreadable": ("{not json", GOOD_STATE),
        "same": raw(good_entry("same", static=True)),
    }
    plan = storekit.plan_static_sync(
        [good_entry("same", static=True), good_entry("new", static=True)],
        stored,
        ["kept"],
        T0,
        None,
    )
    assert plan.report.added == ("new",)
    assert plan.report.unchanged == ("same",)
    assert plan.removed == plan.report.removed == ("old-static",)
    assert [record.entry.name for record in plan.writes] == ["new"]


def test_merge_ack_keeps_a_reschedule_made_in_flight() -> None:
    entry = good_entry()
    claimed = EntryState(next_run_at=T0)
    acked = EntryState(next_run_at=T0 + timedelta(seconds=60), total_run_count=1)
    due = T0 + timedelta(seconds=60)
    assert storekit.merge_ack(Ack("x", claimed, acked, due), storekit.Record(entry, claimed)) == (
        acked,
        due,
    )
    moved = EntryState(next_run_at=T0 + timedelta(hours=1))
    merged = storekit.merge_ack(Ack("x", claimed, acked, due), storekit.Record(entry, moved))
    assert merged.state.next_run_at == moved.next_run_at
    assert merged.state.total_run_count == 1
    assert merged.due_at == moved.next_run_at


def test_change_texts_are_to_json_made_once_per_shared_template() -> None:
    """storekit.change_texts: the very texts of Change.to_json, for a batch of beat's sync
    (one template) and for changes that share nothing: other offsets of the same instant,
    names needing escapes (quotes, non-ASCII, a lone surrogate), reasons and fields."""
    from datetime import timezone

    from beatcore.store import Change

    plus_one = timezone(timedelta(hours=1))
    names = ["plain", 'quo"te', "caf\u00e9 \u2603", "bad-\udcff", "x" * 300]
    changes = [Change(n, "add", T0, by="beat@host", via="beat_schedule") for n in names]
    changes += [
        Change("plain", "add", T0.astimezone(plus_one), by="beat@host", via="beat_schedule"),
        Change("plain", "update", T0, fields=("args", "schedule"), reason='why "not"'),
        Change("\x00beatcore-name\x00", "disable", T0, by="\x00beatcore-name\x00"),
    ]
    assert storekit.change_texts(changes) == [change.to_json() for change in changes]
    assert storekit.change_texts([]) == []


def test_change_texts_of_changes_sharing_objects_and_kept_changes_of_unique_names() -> None:
    """A change holding the objects of the one before takes its template; one differing in
    any of them (here only its fields) gets its own. Unique names keep every change."""
    from beatcore.store import Change

    by, via = "beat@host", "beat_schedule"
    changes = [
        Change("a", "update", T0, by=by, via=via, fields=("args",)),
        Change("b", "update", T0, by=by, via=via, fields=("args",)),
        Change("c", "update", T0, by=by, via=via, fields=("kwargs",)),
        Change("d", "update", T0, by=by, via=via),
        Change("e", "add", T0, by=by, via=via),
        Change("f", "update", T0, by=by, via=via, fields=("args",)),
    ]
    assert storekit.change_texts(changes) == [change.to_json() for change in changes]
    assert storekit.kept_changes(changes, 1) == changes
    assert storekit.kept_changes(changes, 0) == []
    twice = [*changes, Change("a", "delete", T0, by=by)]
    assert storekit.kept_changes(twice, 1) == [*changes[1:], twice[-1]]
    assert storekit.kept_changes(twice, 2) == twice
