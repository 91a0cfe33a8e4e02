"""The SQLite store's change log beyond the contract: the schema step that adds it, rows it
cannot read, odd names."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from beatcore.store import Change
from beatcore.stores.sqlite import SqliteStore
from beatcore.stores.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, open_database
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
_OLD_ENTRY = '{"v":1,"name":"old","task":"t","schedule":{"type":"interval","every":60.0}}'


def _version_3_file(path: Path) -> None:
    """A file as the release before the change log wrote it, with one entry."""
    open_database(path, busy_timeout=1, migrations=MIGRATIONS[:3]).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO entries (name, entry_json, state_json) VALUES (?, ?, ?)",
        ("old", _OLD_ENTRY, '{"v":1}'),
    )
    conn.commit()
    conn.close()


def test_a_version_3_file_migrates_by_itself_and_its_log_starts_empty(tmp_path: Path) -> None:
    """Opening a schema-3 file adds the change log (no step to run by hand); the entries
    are kept and the log then keeps what is recorded."""
    path = tmp_path / "schedule.sqlite3"
    _version_3_file(path)
    store = SqliteStore(path)
    try:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()
        assert [entry.name for entry in store.entries()] == ["old"]
        assert store.changes() == [] and store.changes("old") == []
        paused = Change("old", "disable", T0, by="ops@host", reason="migrating")
        store.record_changes([paused])
        assert store.changes("old") == [paused]
    finally:
        store.close()


def test_rows_that_do_not_read_are_left_out_and_the_others_read(tmp_path: Path) -> None:
    """A change row that is not JSON, names no action, has a naive time or is not UTF-8 is
    left out; a row of a newer release (more fields, another action) reads."""
    path = tmp_path / "schedule.sqlite3"
    store = SqliteStore(path)
    good = Change("a", "add", T0, by="ops@host")
    store.record_changes([good])
    conn = sqlite3.connect(path)
    newer = '{"v": 7, "name": "a", "action": "rename", "at": "2026-01-05T12:00:09+00:00", "x": 1}'
    for record in (
        "{not json",
        '{"v": 1, "name": "a", "at": "2026-01-05T12:00:01+00:00"}',
        '{"v": 1, "name": "a", "action": "add", "at": "2026-01-05T12:00:02"}',
        b'{"v": 1, "name": "a", "action": "add\xff", "at": "2026-01-05T12:00:03+00:00"}',
        newer,
    ):
        conn.execute("INSERT INTO changes (name, record) VALUES ('a', ?)", (record,))
    conn.commit()
    conn.close()
    try:
        found = store.changes("a")
        assert [(c.action, c.at) for c in found] == [
            ("rename", T0 + timedelta(seconds=9)),
            ("add", T0),
        ]
        assert store.changes("a", limit=1) == found[:1]
        assert store.changes() == found
    finally:
        store.close()


def test_a_name_that_is_not_utf8_keeps_its_own_log(tmp_path: Path) -> None:
    """A name read from a record that is not UTF-8 (surrogate-escaped) is written and read
    back as that name, apart from every other."""
    store = SqliteStore(tmp_path / "schedule.sqlite3")
    odd = b"caf\xe9".decode("utf-8", "surrogateescape")
    try:
        store.record_changes([Change(odd, "delete", T0), Change("caf", "add", T0)])
        assert [c.name for c in store.changes(odd)] == [odd]
        assert [c.action for c in store.changes("caf")] == ["add"]
    finally:
        store.close()
