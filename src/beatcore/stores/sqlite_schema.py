"""The SQLite store's file: URL, schema and migrations, transactions and the leadership row.

:mod:`beatcore.stores.sqlite` keeps the entries in it; this module holds everything below
them: which file a URL names, how it is opened and migrated, how a transaction is run, and
the lock row with its fencing counter (:class:`SqliteLock`).

The schema version is kept in the file header (``PRAGMA user_version``) and the file is marked
as a beatcore schedule (``PRAGMA application_id``). Opening a file applies, in order and in one
transaction, every migration step newer than its version. A file whose version is newer than
the last step this release knows was written by a newer beatcore: it is refused with
:class:`~beatcore.errors.SchemaVersionError` before anything in it is changed.

To change the schema, append a :class:`Migration` to :data:`MIGRATIONS`; never edit a step
that has been released, since files out there are already at its version.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import attrs

from beatcore.errors import ConfigurationError, LockLost, SchemaVersionError, StoreError
from beatcore.store import Lease, Lock, LockInfo
from beatcore.timeutil import UTC, Clock

#: Marks a SQLite file as a beatcore schedule (the bytes "beat" as a big-endian integer).
APPLICATION_ID = 0x62656174

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_URL_FORMS = "use sqlite:///relative/path or sqlite:////absolute/path"


@attrs.frozen
class Migration:
    """One step of the schema: the SQL statements that bring version ``version - 1`` to it."""

    version: int
    description: str
    statements: tuple[str, ...]


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
)

#: The schema version this release writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def database_path(url: str) -> Path | None:
    """Return the absolute path a ``sqlite:///`` URL names, or None for another scheme.

    ``sqlite:///relative/path`` is relative to the current directory when the store is
    opened; ``sqlite:////absolute/path`` is absolute.

    :raises ConfigurationError: a sqlite URL that names no file, has a host, a query string,
        or asks for an in-memory database (which no other process could see).
    """
    scheme, _, rest = url.partition(":")
    if scheme.lower() != "sqlite":
        return None
    if not rest.startswith("///"):
        raise ConfigurationError(
            f"malformed SQLite URL {url!r}: expected three slashes after 'sqlite:' and no "
            f"host; {_URL_FORMS}"
        )
    path = rest[3:]
    if not path or path.endswith("/"):
        raise ConfigurationError(f"malformed SQLite URL {url!r}: it names no file; {_URL_FORMS}")
    if "?" in path or "#" in path:
        raise ConfigurationError(
            f"malformed SQLite URL {url!r}: query strings are not supported; pass options "
            f"(busy_timeout) through beatcore_store_options"
        )
    if path == ":memory:" or path.startswith("file:"):
        raise ConfigurationError(
            f"unsupported SQLite URL {url!r}: the schedule must be a file that beat and its "
            f"clients share; {_URL_FORMS} (memory:// is the in-process store)"
        )
    return Path(os.path.abspath(path))


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


def micros(value: datetime | None) -> int | None:
    """Encode an instant as stored: integer microseconds since the Unix epoch (None stays)."""
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def instant(value: int | None) -> datetime | None:
    """Decode a stored instant (see :func:`micros`)."""
    return None if value is None else _EPOCH + value * _MICROSECOND


class Database:
    """One open schedule file: its connection, transactions and the leadership row.

    The connection is shared by the threads of one store under a mutex; other processes use
    their own connection and meet this one at the file's locks.
    """

    def __init__(self, path: Path, *, clock: Clock, busy_timeout: float) -> None:
        self.path = path
        self.clock = clock
        self._mutex = threading.RLock()
        self._deferred: list[Callable[[], None]] = []
        self._closed = False
        self._conn = open_database(path, busy_timeout=busy_timeout)

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction: ``BEGIN IMMEDIATE`` to write, else a snapshot.

        A write transaction takes the file's write lock at once, so it never has to upgrade
        a read lock (which could fail with "database is locked" under contention). An
        exception in the block rolls everything back.
        """
        with self._mutex:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Closed already: a signal handler closed the store right after COMMIT.
                if not self._closed and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._run_deferred()

    def after_transaction(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or as soon as the transaction this thread is in has ended.

        celery beat's SIGTERM/SIGINT handler closes the scheduler (releasing the lock,
        closing the store) from inside whatever the main thread was doing, possibly in the
        middle of one of our transactions, and then raises SystemExit there. Releasing inside
        that transaction would be rolled back with it, so the release waits for it to end.
        """
        with self._mutex:
            if not self._closed and self._conn.in_transaction:
                self._deferred.append(action)
            else:
                action()

    def _run_deferred(self) -> None:
        while self._deferred:
            action = self._deferred.pop(0)
            try:
                action()
            except Exception:
                logger.exception("beatcore: SQLite store %s: deferred %r failed", self.path, action)

    def close(self) -> None:
        """Close the connection (after the transaction in progress, if any); idempotent."""

        def close() -> None:
            if not self._closed:
                self._closed = True
                self._conn.close()

        with self._mutex:
            if not self._closed:
                self.after_transaction(close)

    def check_lease(
        self, conn: sqlite3.Connection, lease: Lease, tick_at: datetime | None = None
    ) -> None:
        """Renew ``lease`` (and record a tick at ``tick_at``) or raise :class:`LockLost`.

        Called inside the write transaction of every fenced call, before its writes.
        """
        expires = micros(self.clock() + timedelta(seconds=lease.ttl))
        renewed = conn.execute(
            "UPDATE leadership SET expires_at = ?, last_tick_at = coalesce(?, last_tick_at)"
            " WHERE id = 1 AND token = ? AND fence = ?",
            (expires, micros(tick_at), lease.token, lease.token),
        ).rowcount
        if renewed != 1:
            fence = conn.execute("SELECT fence FROM leadership WHERE id = 1").fetchone()[0]
            raise LockLost.superseded(lease.token, fence)

    def lock_info(self, conn: sqlite3.Connection) -> LockInfo | None:
        """Return the holder of a still valid lease, or None."""
        holder, token, acquired_at, expires_at = conn.execute(
            "SELECT holder, token, acquired_at, expires_at FROM leadership WHERE id = 1"
        ).fetchone()
        if token is None or expires_at <= micros(self.clock()):
            return None
        return LockInfo(holder, token, instant(acquired_at), instant(expires_at))


class SqliteLock(Lock):
    """The lock row of a SQLite schedule: a fencing counter; expiry follows the clock."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def acquire(self, holder: str, ttl: float) -> Lease | None:
        """Take the lock unless another lease is still valid (see :meth:`Lock.acquire`).

        Each acquisition increments the counter row and takes its value as the token.
        """
        now = self._db.clock()
        with self._db.transaction(write=True) as conn:
            fence, held_by, token, expires_at = conn.execute(
                "SELECT fence, holder, token, expires_at FROM leadership WHERE id = 1"
            ).fetchone()
            if token is not None and expires_at > micros(now) and held_by != holder:
                return None
            fence += 1
            conn.execute(
                "UPDATE leadership SET fence = ?, holder = ?, token = ?, acquired_at = ?,"
                " expires_at = ? WHERE id = 1",
                (fence, holder, fence, micros(now), micros(now + timedelta(seconds=ttl))),
            )
            return Lease(token=fence, holder=holder, ttl=ttl)

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease, or raise :class:`LockLost` if a newer token exists."""
        with self._db.transaction(write=True) as conn:
            self._db.check_lease(conn, lease)
            return lease

    def release(self, lease: Lease) -> None:
        """Drop the lock and burn the token, if it is still current.

        Called from a signal handler in the middle of a transaction, it happens as soon as
        that transaction has ended (see :meth:`Database.after_transaction`).
        """

        def release() -> None:
            with self._db.transaction(write=True) as conn:
                conn.execute(
                    "UPDATE leadership SET fence = fence + 1, holder = NULL, token = NULL,"
                    " acquired_at = NULL, expires_at = NULL WHERE id = 1 AND token = ?",
                    (lease.token,),
                )

        self._db.after_transaction(release)

    def current(self) -> LockInfo | None:
        """Return the valid lease's holder, or None."""
        with self._db.transaction() as conn:
            return self._db.lock_info(conn)
