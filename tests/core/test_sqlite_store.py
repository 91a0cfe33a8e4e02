"""The SQLite store beyond the contract: URLs, the schema version, migrations, the file."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery

import beatcore
from beatcore import ConfigurationError, Entry, Interval
from beatcore.errors import SchemaVersionError, StoreError
from beatcore.stores.sqlite import SqliteStore
from beatcore.stores.sqlite.schema import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    open_database,
)
from beatcore.stores.sqlite.url import database_path
from beatcore.testing import FakeClock
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "schedule.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(path, clock=FakeClock(T0))
    yield store
    store.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


# -- URLs and options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite://host/schedule.db",
        "sqlite:/schedule.db",
        "sqlite:schedule.db",
        "sqlite:///dir/",
        "sqlite:///schedule.db?timeout=5",
        "sqlite:///:memory:",
        "sqlite:///file:schedule.db",
    ],
)
def test_malformed_url_raises_configuration_error_naming_it(url: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(repr(url))):
        beatcore.connect(url)


def test_url_forms_relative_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_path("sqlite:///var/schedule.db") == tmp_path / "var" / "schedule.db"
    assert database_path(f"sqlite:///{tmp_path}/abs.db") == tmp_path / "abs.db"
    assert database_path("SQLITE:///x.db") == tmp_path / "x.db"
    assert database_path("memory://x") is None
    store = beatcore.connect("sqlite:///relative.sqlite3")
    try:
        assert isinstance(store, SqliteStore)
        assert store.url == f"sqlite:///{tmp_path / 'relative.sqlite3'}"
        assert store.url.startswith("sqlite:////")
    finally:
        store.close()
    assert (tmp_path / "relative.sqlite3").exists()


def test_unknown_option_and_bad_busy_timeout_are_named(path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'timeout'"):
        beatcore.connect(f"sqlite:///{path}", timeout=3)
    with pytest.raises(ConfigurationError, match=r"busy_timeout.*'soon'"):
        beatcore.connect(f"sqlite:///{path}", busy_timeout="soon")
    store = beatcore.connect(f"sqlite:///{path}", busy_timeout=0.5)
    store.close()


def test_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "schedule.sqlite3"
    with pytest.raises(ConfigurationError, match=re.escape(str(missing.parent))):
        SqliteStore(missing)


def test_default_url_is_a_file_beside_beats_schedule(tmp_path: Path) -> None:
    app = Celery("default-url", broker="memory://", set_as_current=False)
    app.conf.update(beat_schedule={}, timezone="UTC", result_backend=None)
    from beatcore.scheduler import Scheduler

    schedule = tmp_path / "celerybeat-schedule"
    scheduler = Scheduler(app, schedule_filename=str(schedule), clock=FakeClock(T0))
    try:
        assert isinstance(scheduler.store, SqliteStore)
        assert scheduler.store.path == tmp_path / "celerybeat-schedule.beatcore.sqlite3"
        assert scheduler.store.path.exists()
    finally:
        scheduler.close()


# -- the file ------------------------------------------------------------------------------


def test_new_file_is_wal_marked_and_at_the_current_version(store: SqliteStore, path: Path) -> None:
    store.save(Entry(name="a", task="t", schedule=Interval(10)))
    assert _pragma(path, "journal_mode") == "wal"
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    assert _pragma(path, "application_id") == APPLICATION_ID


def test_data_survives_reopening(path: Path) -> None:
    clock = FakeClock(T0)
    first = SqliteStore(path, clock=clock)
    first.save(Entry(name="a", task="t", schedule=Interval(10), args=(1, 2)))
    first.close()
    second = SqliteStore(path, clock=clock)
    try:
        assert second.get("a").args == (1, 2)
        assert second.state("a").next_run_at == T0 + timedelta(seconds=10)
    finally:
        second.close()


def test_newer_schema_version_is_refused_and_file_untouched(store: SqliteStore, path: Path) -> None:
    store.save(Entry(name="a", task="t", schedule=Interval(10)))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = _digest(path)

    with pytest.raises(SchemaVersionError) as caught:
        SqliteStore(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"version {SCHEMA_VERSION} " in message
    with pytest.raises(SchemaVersionError):
        beatcore.connect(f"sqlite:///{path}")
    assert _digest(path) == before
    assert _pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_migrations_apply_in_order_and_keep_data(store: SqliteStore, path: Path) -> None:
    store.save(Entry(name="a", task="t", schedule=Interval(10)))
    store.close()
    steps = (
        *MIGRATIONS,
        Migration(SCHEMA_VERSION + 1, "a note per entry", ("ALTER TABLE entries ADD note TEXT",)),
        Migration(
            SCHEMA_VERSION + 2,
            "fill the note",
            ("UPDATE entries SET note = 'v' || (SELECT count(*) FROM entries)",),
        ),
    )
    conn = open_database(path, busy_timeout=1, migrations=steps)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 2
        assert conn.execute("SELECT name, note FROM entries").fetchall() == [("a", "v1")]
    finally:
        conn.close()
    # This release's store refuses the file the "newer release" wrote.
    with pytest.raises(SchemaVersionError):
        SqliteStore(path)


def test_failed_migration_leaves_the_file_at_its_version(store: SqliteStore, path: Path) -> None:
    store.save(Entry(name="a", task="t", schedule=Interval(10)))
    store.close()
    steps = (
        *MIGRATIONS,
        Migration(SCHEMA_VERSION + 1, "good step", ("CREATE TABLE extra (x INTEGER)",)),
        Migration(SCHEMA_VERSION + 2, "broken step", ("ALTER TABLE missing ADD y TEXT",)),
    )
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 2} \\(broken step\\)"):
        open_database(path, busy_timeout=1, migrations=steps)
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    reopened = SqliteStore(path)
    try:
        assert [e.name for e in reopened.entries()] == ["a"]
        with reopened._db.transaction() as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "extra" not in tables
    finally:
        reopened.close()


def test_migration_steps_must_be_numbered_in_order(path: Path) -> None:
    gap = SCHEMA_VERSION + 2
    with pytest.raises(StoreError, match=rf"\[{', '.join(map(str, range(1, gap - 1)))}, {gap}\]"):
        open_database(path, busy_timeout=1, migrations=(*MIGRATIONS, Migration(gap, "gap", ())))


def test_file_that_is_not_sqlite_is_refused_untouched(path: Path) -> None:
    path.write_bytes(b"celery beat shelve, not sqlite\n" * 100)
    before = _digest(path)
    with pytest.raises(StoreError, match=re.escape(str(path))):
        SqliteStore(path)
    assert _digest(path) == before


def test_database_of_another_application_is_refused_untouched(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(StoreError, match="another application"):
        SqliteStore(path)
    assert _digest(path) == before


# -- cost of a tick ----------------------------------------------------------------------


def test_tick_reads_only_through_the_due_and_in_flight_indexes(store: SqliteStore) -> None:
    clock = store.clock
    assert isinstance(clock, FakeClock)
    for i in range(200):
        store.save(Entry(name=f"e{i:03d}", task="t", schedule=Interval(60 + i)))
    lease = store.lock.acquire("a", 30)
    assert lease is not None
    statements: list[str] = []
    store._db._conn.set_trace_callback(statements.append)
    try:
        store.claim_due(lease, clock(), limit=100, reclaim_after=30)  # idle: nothing due
        clock.advance(65)
        due = store.claim_due(lease, clock(), limit=100, reclaim_after=30)
    finally:
        store._db._conn.set_trace_callback(None)
    assert [c.entry.name for c in due.claims] == [f"e{i:03d}" for i in range(6)]
    plans = []
    with store._db.transaction() as conn:
        for statement in statements:
            if statement.split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE"):
                plans += [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
    assert plans
    full_scans = [p for p in plans if re.match(r"SCAN entries\b", p)]
    assert full_scans == [], plans


# -- shutdown from a signal handler --------------------------------------------------------


def test_release_and_close_inside_a_transaction_happen_after_it(path: Path) -> None:
    """celery beat's SIGTERM handler closes the scheduler wherever the main thread was."""
    clock = FakeClock(T0)
    store = SqliteStore(path, clock=clock)
    lease = store.lock.acquire("a", 30)
    assert lease is not None
    with pytest.raises(SystemExit), store._db.transaction(write=True):
        store.lock.release(lease)  # the handler: Scheduler.close() ...
        store.close()
        raise SystemExit  # ... then SystemExit, unwinding the interrupted transaction
    other = SqliteStore(path, clock=clock)
    try:
        assert other.lock.current() is None
        assert other.lock.acquire("b", 30) is not None
    finally:
        other.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.entries()
    store.close()  # idempotent


def test_a_version_1_file_migrates_and_keeps_its_entries(path: Path) -> None:
    """A file written before schema 2 (no error_at, no beat row) opens, migrates, reads."""
    first = (MIGRATIONS[0],)
    open_database(path, busy_timeout=1, migrations=first).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO entries (name, entry_json, state_json, error) VALUES (?, ?, ?, ?)",
        ("old", '{"v":1,"name":"old","task":"t","schedule":{"type":"interval","every":60.0}}',
         '{"v":1}', "noted by an older beat"),
    )  # fmt: skip
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    assert [entry.name for entry in store.entries()] == ["old"]
    (noted,) = store.unreadable_records()
    assert (noted.name, noted.cause, noted.since) == ("old", "noted by an older beat", None)
    assert store.beat_info() is None
    store.close()


def test_a_version_2_file_migrates_and_its_entries_have_an_empty_history(path: Path) -> None:
    """A file written before the run history (schema 2) opens, migrates to 3 and reads; its
    entries' history starts empty and then keeps what the acks write."""
    open_database(path, busy_timeout=1, migrations=MIGRATIONS[:2]).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO entries (name, entry_json, state_json) VALUES (?, ?, ?)",
        ("old", '{"v":1,"name":"old","task":"t","schedule":{"type":"interval","every":60.0}}',
         '{"v":1}'),
    )  # fmt: skip
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    try:
        assert _pragma(path, "user_version") == SCHEMA_VERSION
        assert [entry.name for entry in store.entries()] == ["old"]
        assert store.history("old") == []
    finally:
        store.close()
