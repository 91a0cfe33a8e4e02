"""The rule for entry names (issue 12 item 6, docs/semantics.rst "Entry names").

A new name may not hold a control character (Unicode category Cc: NUL, newline, escape, ...)
or a line/paragraph separator (U+2028, U+2029): refused where the Entry is built. A stored
record whose name predates the rule stays readable, claimable, editable and removable, and
every name is escaped wherever it is logged or printed, so no name can forge a log line.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery

from beatcore import Entry, EntryState, Interval, InvalidEntry
from beatcore.entry import StoredName
from beatcore.serializer import dumps_entry, dumps_state, entry_to_dict, loads_entry
from beatcore.store import Ack, Store
from beatcore.stores.memory import MemoryStore
from beatcore.stores.sqlite import SqliteStore
from beatcore.testing.clock import FakeClock
from beatcore.testing.recorder import DispatchRecorder
from beatcore.testing.records import (
    forget_memory_schedule,
    plant_memory_record,
    plant_sqlite_record,
)
from beatcore.timeutil import UTC
from beatcore.values import line_breaking, printable
from tests.core.cli_app import Cli, make_cli, one_line_error
from tests.core.conftest import make_scheduler

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

#: Names the rule refuses: each holds one character that could break or rewrite a log line.
REFUSED = {
    "newline": "bad\nINFO forged line",
    "carriage return": "bad\rname",
    "tab": "bad\tname",
    "NUL": "bad\x00name",
    "escape": "bad\x1b[31mred",
    "delete": "bad\x7fname",
    "next line (C1)": "bad\x85name",
    "line separator": "bad\u2028name",
    "paragraph separator": "bad\u2029name",
}
#: Names the rule lets through: not printable() in every case, but none breaks a line.
ALLOWED = [
    "plain-name",
    "caf\u00e9 \u2603 \U0001f600",
    "no\u00a0break space",
    "zero\u200bwidth",
    "right\u202eleft",
    "x" * 1000,
]

Plant = Callable[[str, str, str, datetime], None]


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_a_new_name_with_a_line_breaking_character_is_refused(name: str) -> None:
    with pytest.raises(InvalidEntry) as info:
        Entry(name=name, task="t", schedule=Interval(60))
    char = line_breaking(name)
    assert char is not None
    assert str(info.value) == (
        f"entry name {name!r} holds {char!r} (U+{ord(char):04X}): a name may not hold control "
        "characters or line and paragraph separators (they could forge log lines)"
    )


@pytest.mark.parametrize("name", ALLOWED)
def test_other_names_are_accepted_and_printed_as_they_are(name: str) -> None:
    entry = Entry(name=name, task="t", schedule=Interval(60))
    assert type(entry.name) is str
    assert printable(name) == name
    assert loads_entry(dumps_entry(entry), name) == entry


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_printable_escapes_every_refused_name_onto_one_line(name: str) -> None:
    shown = printable(name)
    assert shown == repr(name)
    assert line_breaking(shown) is None and "\n" not in shown


def _legacy_record(name: str) -> str:
    """The bytes a release before the rule wrote for an entry ``name``."""
    data = entry_to_dict(Entry(name=StoredName(name), task="t", schedule=Interval(60)))
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_a_stored_name_from_before_the_rule_still_reads_and_evolves(name: str) -> None:
    entry = loads_entry(_legacy_record(name), name)
    assert type(entry.name) is StoredName and entry.name == name
    written = dumps_entry(entry)  # written back with the name as it was stored
    assert json.loads(written)["name"] == name
    assert type(loads_entry(written, name).name) is StoredName
    disabled = entry.evolve(enabled=False)  # set_enabled, edit: the mark is kept
    assert disabled.name == name and not disabled.enabled
    with pytest.raises(InvalidEntry, match="a name may not hold control characters"):
        entry.evolve(name=str(entry.name))  # but a plain str is a new name


def test_a_stored_name_that_breaks_no_rule_stays_a_plain_str() -> None:
    entry = loads_entry(_legacy_record("plain"), "plain")
    assert type(entry.name) is str


@pytest.fixture(params=["memory", "sqlite"])
def store_and_plant(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Store, Plant]]:
    clock = FakeClock(T0)
    if request.param == "memory":
        label = f"names-{uuid.uuid4()}"
        memory = MemoryStore(label, clock=clock)
        yield memory, lambda *record: plant_memory_record(memory, *record)
        forget_memory_schedule(label)
        return
    sqlite = SqliteStore(tmp_path / "s.sqlite3", clock=clock)
    yield sqlite, lambda *record: plant_sqlite_record(sqlite, *record)
    sqlite.close()


def assert_a_legacy_name_lives_like_any_other(store: Store, plant: Plant, name: str) -> None:
    """Plant ``name`` as an old release wrote it next to a good entry; both are listed, claimed
    once per occurrence, acked, disabled, enabled and removed; a new such name is refused."""
    store.save(Entry(name="good", task="t", schedule=Interval(60)))
    due = T0 - timedelta(seconds=1)
    plant(name, _legacy_record(name), dumps_state(EntryState(next_run_at=due)), due)
    assert sorted(e.name for e in store.entries()) == sorted(["good", name])
    assert list(store.corrupt_records()) == []
    assert store.get(name).name == name

    lease = store.lock.acquire("tests:1", 30)
    assert lease is not None
    claims = store.claim_due(lease, T0, limit=10, reclaim_after=30).claims
    bad = [c for c in claims if c.entry.name == name]
    assert len(bad) == 1, [c.entry.name for c in claims]
    sent = bad[0].state.evolve(
        next_run_at=T0 + timedelta(seconds=60), last_run_at=due, total_run_count=1
    )
    store.ack(lease, [Ack(name, claimed=bad[0].state, state=sent, due_at=sent.next_run_at)])
    again = store.claim_due(lease, T0 + timedelta(seconds=1), limit=10, reclaim_after=30)
    assert [c.entry.name for c in again.claims if c.entry.name == name] == []
    assert store.state(name).total_run_count == 1

    store.set_enabled(name, False)
    assert not store.get(name).enabled
    store.set_enabled(name, True)
    store.delete(name)
    assert [e.name for e in store.entries()] == ["good"]
    with pytest.raises(InvalidEntry, match="a name may not hold control characters"):
        store.save(Entry(name=name, task="t", schedule=Interval(60)))


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_a_legacy_name_lives_on_memory_and_sqlite(
    store_and_plant: tuple[Store, Plant], name: str
) -> None:
    assert_a_legacy_name_lives_like_any_other(*store_and_plant, name)


def test_a_sent_legacy_name_is_logged_on_one_line(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler's 'Sending due task' line (Celery's own words) holds the escaped name,
    and a task name is escaped the same way; no log line the tick writes holds a newline."""
    from beatcore import connect

    store = connect(beatcore_app)
    assert isinstance(store, MemoryStore)
    name = REFUSED["newline"]
    clock = FakeClock(T0)
    due = T0 - timedelta(seconds=1)
    record = _legacy_record(name).replace('"task":"t"', '"task":"proj.\\u001b[2Jx"')
    plant_memory_record(store, name, record, dumps_state(EntryState(next_run_at=due)), due)
    scheduler = make_scheduler(beatcore_app, clock)
    with caplog.at_level(logging.INFO):
        scheduler.tick()
    assert [sent[0] for sent in beatcore_recorder.sent] == [name]
    lines = [r.getMessage() for r in caplog.records]
    sending = [line for line in lines if line.startswith("Scheduler: Sending due task")]
    assert len(sending) == 1, lines
    assert sending[0].startswith(
        "Scheduler: Sending due task 'bad\\nINFO forged line' ('proj.\\x1b[2Jx') for "
    ), sending
    assert not [line for line in lines if "\n" in line or "\x1b" in line], lines


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli("sqlite", tmp_path)


def test_the_cli_refuses_such_a_name_and_prints_stored_ones_escaped(cli: Cli) -> None:
    line = one_line_error(cli("add", "a\nb", "proj.hello", "--every", "1m"))
    assert "entry name 'a\\nb' holds '\\n' (U+000A): a name may not hold control" in line

    store = cli.store()
    assert isinstance(store, SqliteStore)
    name = REFUSED["newline"]
    state = dumps_state(EntryState(next_run_at=T0 + timedelta(hours=1)))
    plant_sqlite_record(store, name, _legacy_record(name), state, T0 + timedelta(hours=1))
    listing = cli.ok("list")
    rows = [row for row in listing.splitlines() if "forged" in row]
    assert len(rows) == 1 and rows[0].startswith("'bad\\nINFO forged line'"), listing
    assert not any(row.startswith("INFO forged line") for row in listing.splitlines())
    shown = cli.ok("show", name)
    assert "name:" in shown and "'bad\\nINFO forged line'" in shown
    assert "INFO forged line\n" not in shown.replace("'bad\\nINFO forged line'", "")
    cli.ok("disable", name)
    cli.ok("remove", name, "--yes")
    assert [e.name for e in cli.store().entries()] == []


def test_importing_a_document_applies_the_rule_to_each_record(cli: Cli, tmp_path: Path) -> None:
    good = entry_to_dict(Entry(name="good", task="proj.hello", schedule=Interval(60)))
    bad = {**good, "name": "bad\x1b[2Jname"}
    document = tmp_path / "entries.json"
    document.write_text(json.dumps([good, bad]))
    result = cli("import", str(document))
    assert result.exit_code == 1
    assert "entry #2: entry name 'bad\\x1b[2Jname' holds '\\x1b' (U+001B)" in result.output
    assert "nothing was imported" in result.output
    document.write_text(json.dumps([good]))
    cli.ok("import", str(document))
    assert [e.name for e in cli.store().entries()] == ["good"]


def test_a_beat_schedule_item_with_such_a_name_is_reported_and_its_stored_copy_kept() -> None:
    from beatcore.plugins import get_plugins
    from beatcore.static import static_entries

    name = REFUSED["newline"]
    item = {"task": "t", "schedule": 60.0}
    parsed = static_entries({"good": item, name: item}, get_plugins())
    assert [e.name for e in parsed.entries] == ["good"]
    assert "a name may not hold control characters" in parsed.errors[name]
    label = f"names-{uuid.uuid4()}"
    memory = MemoryStore(label, clock=FakeClock(T0))
    record = _legacy_record(name).replace('"static":false', '"static":true')
    plant_memory_record(memory, name, record, dumps_state(EntryState()), T0)
    memory.sync_static(parsed.entries, keep=parsed.errors)
    assert sorted(e.name for e in memory.entries()) == sorted(["good", name])
    forget_memory_schedule(label)
