"""The SQLite store's file format: schema version, migrations, and opening a file.

The schema version is kept in the file header (``PRAGMA user_version``) and the file is marked
as a beatcore schedule (``PRAGMA application_id``). Opening a file applies, in order and in one
transaction, every migration step newer than its version. A file whose version is newer than
the last step this release knows was written by a newer beatcore: it is refused with
:class:`~beatcore.errors.SchemaVersionError` before anything in it is changed.

To change the schema, append a :class:`Migration` to :data:`MIGRATIONS`; never edit a step
that has been released, since files out there are already at its version.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from beatcore.errors import ConfigurationError, SchemaVersionError, StoreError
from beatcore.storekit import Migration

#: Marks a SQLite file as a beatcore schedule (the bytes "beat" as a big-endian integer).
APPLICATION_ID = 0x62656174


#: Every schema step, oldest first; the last one's version is the current schema version.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "entries with their due index and claims; the leadership row with the fencing counter",
        (
            # Instants are integer microseconds since the Unix epoch (UTC). ``due_at`` NULL
            # means "not in the due index" (disabled, finished, claimed or unreadable);
            # ``claimed_at`` not NULL means "in flight"; ``error`` says why a tick took an
            # unreadable record out of the due index (for whoever inspects the file).
            """
            CREATE TABLE entries (
                name TEXT PRIMARY KEY NOT NULL,
                entry_json TEXT NOT NULL,
                state_json TEXT NOT NULL,
                next_run_at INTEGER,
                due_at INTEGER,
                claim_token INTEGER,
                claimed_at INTEGER,
                claimed_next_run_at INTEGER,
                error TEXT
            ) WITHOUT ROWID
            """,
            "CREATE INDEX entries_due ON entries (due_at, name) WHERE due_at IS NOT NULL",
            "CREATE INDEX entries_in_flight ON entries (claimed_at, name)"
            " WHERE claimed_at IS NOT NULL",
            """
            CREATE TABLE leadership (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                fence INTEGER NOT NULL,
                holder TEXT,
                token INTEGER,
                acquired_at INTEGER,
                expires_at INTEGER,
                last_tick_at INTEGER
            )
            """,
            "INSERT INTO leadership (id, fence) VALUES (1, 0)",
        ),
    ),
    Migration(
        2,
        "when a tick found a record unreadable; what the last beat to start said about itself",
        (
            # ``error_at``: when ``error`` was first noted (NULL with it when the record is
            # written again or read again at a retry).
            "ALTER TABLE entries ADD COLUMN error_at INTEGER",
            # One row: the JSON of beatcore.store.BeatInfo (holder, start, schedule types).
            "CREATE TABLE beat (id INTEGER PRIMARY KEY CHECK (id = 1), info TEXT NOT NULL)",
        ),
    ),
    Migration(
        3,
        "the run history: what beat did with each occurrence, per entry in order",
        (
            # ``record``: the JSON of a beatcore.store.RunRecord; ``seq`` grows per entry,
            # the ack keeps the newest beatcore_history_size rows of each.
            """
            CREATE TABLE runs (
                name TEXT NOT NULL,
                seq INTEGER NOT NULL,
                record TEXT NOT NULL,
                PRIMARY KEY (name, seq)
            ) WITHOUT ROWID
            """,
        ),
    ),
    Migration(
        4,
        "the change log: who changed which entry, when and why, kept after a delete",
        (
            # ``record``: the JSON of a beatcore.store.Change; ``seq`` orders all changes,
            # record_changes keeps the newest beatcore_change_log_size rows of each name.
            """
            CREATE TABLE changes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                record TEXT NOT NULL
            )
            """,
            "CREATE INDEX changes_by_name ON changes (name, seq)",
        ),
    ),
    Migration(
        5,
        "what workers report: the running fact of each entry, reports before beat's ack",
        (
            # ``running``: the JSON of a beatcore.store.Running (overlap policies), or NULL.
            "ALTER TABLE entries ADD COLUMN running TEXT",
            # A worker's report of a run whose record the ack has not written yet (the JSON
            # of a beatcore.store.RunRecord), taken in by that ack; ``seq`` orders them.
            """
            CREATE TABLE early_runs (
                name TEXT NOT NULL,
                task_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                record TEXT NOT NULL,
                PRIMARY KEY (name, task_id)
            ) WITHOUT ROWID
            """,
        ),
    ),
)

#: The schema version this release writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def open_database(
    path: Path, *, busy_timeout: float, migrations: Sequence[Migration] = MIGRATIONS
) -> sqlite3.Connection:
    """Open the schedule file at ``path``, creating or migrating its schema as needed.

    Called once per store. The connection is in autocommit mode (the store issues ``BEGIN``
    itself), in WAL journal mode, and waits up to ``busy_timeout`` seconds for another
    process's write transaction.

    :raises SchemaVersionError: the file was written by a newer schema (it is not changed).
    :raises StoreError: the file is not a SQLite database, belongs to another application, or
        a migration failed (it is left at its old version).
    :raises ConfigurationError: the file's directory does not exist.
    """
    target = _check_steps(migrations)
    if not path.parent.is_dir():
        raise ConfigurationError(
            f"SQLite store {path}: directory {path.parent} does not exist (create it, or point "
            f"beatcore_url elsewhere)"
        )
    try:
        conn = sqlite3.connect(
            str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open SQLite store {path}: {exc}") from exc
    try:
        found = _inspect(conn, path, target)
        _use_wal(conn, path, busy_timeout)
        if found < target:
            _migrate(conn, path, migrations, target)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"SQLite store {path} cannot be used: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    """Switch the file to WAL mode (once per file; it persists).

    The switch needs the file to itself and does not wait through SQLite's busy handler, so
    processes opening a new file at the same moment retry it here until ``busy_timeout``.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
    if str(mode).lower() != "wal":
        raise StoreError(
            f"SQLite store {path}: cannot switch to WAL journal mode (got {mode!r}); "
            f"is it on a filesystem without shared memory support?"
        )


def _check_steps(migrations: Sequence[Migration]) -> int:
    versions = [m.version for m in migrations]
    if not versions or versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"SQLite migrations must be numbered 1, 2, 3, ...; got {versions}")
    return versions[-1]


def _inspect(conn: sqlite3.Connection, path: Path, target: int) -> int:
    """Return the file's schema version, refusing newer and foreign files (one snapshot)."""
    conn.execute("BEGIN")
    try:
        found = _read_version(conn, path)
        _refuse_newer(path, found, target)
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        tables = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(
            f"{path} belongs to another application (SQLite application_id {app_id:#x}); "
            f"not touching it"
        )
    if app_id == 0 and tables:
        raise StoreError(
            f"{path} is a SQLite database of another application (it has tables but no "
            f"beatcore schema); not touching it"
        )
    return found


def _read_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a SQLite database ({exc}); not touching it") from exc


def _refuse_newer(path: Path, found: int, target: int) -> None:
    if found > target:
        raise SchemaVersionError(
            f"SQLite store {path} has schema version {found}, newer than version {target} "
            f"that this beatcore supports; it was written by a newer beatcore: upgrade "
            f"beatcore to use it (the file was not changed)"
        )


def _migrate(
    conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration], target: int
) -> None:
    """Apply the missing steps in one write transaction (all or nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        found = _read_version(conn, path)
        _refuse_newer(path, found, target)
        for step in migrations[found:]:
            try:
                for statement in step.statements:
                    conn.execute(statement)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"SQLite store {path}: migration to schema version {step.version} "
                    f"({step.description}) failed: {exc}; the file stays at version {found}"
                ) from exc
        conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
