"""The tables of one schedule, created and versioned by the store itself.

A schedule lives in its own PostgreSQL schema (``beatcore`` unless the URL or the options name
another). ``schema_version`` holds one row, the version of the tables; :data:`MIGRATIONS`
lists every step from an empty schema to the current version. Opening a store checks the
version in one round trip; a missing or older schema is created or migrated in one
transaction, under an advisory lock so processes starting together do it once. A schema
written by a newer beatcore is refused and left untouched, and so is a schema holding other
tables but no ``schema_version`` (another application's).

Layout (version 5):

``entries``
    one row per entry: ``entry_json`` and ``state_json`` (the serializer's text, kept as it is
    so an unreadable record is reported, never lost), ``rev`` (increases with every write of
    the definition or state: compare-and-set), ``enabled`` and ``static`` (copied from the
    definition for the statements that need them), ``next_run_at``, ``due_at`` (the due
    index; NULL while in flight, disabled or never due), ``claim_token``, ``claimed_at`` and
    ``claimed_next_run_at`` (the claim not acked yet), ``error`` (why the record was taken
    out of the due index) and, from version 2, ``error_at`` (since when).
``leadership``
    one row: the lease (``holder``, ``token``, ``acquired_at``, ``expires_at`` on the
    server's clock) and ``last_tick_at``.
``fencing_tokens``
    the sequence every acquisition takes its token from; it only grows.
``beat`` (version 2)
    one row: what the last scheduler to start said about itself (``BeatInfo`` as JSON).
``runs`` (version 3)
    the run history: one row per record (``name``, ``seq`` growing per entry, ``record``, the
    ``RunRecord`` JSON), the newest ``beatcore_history_size`` per entry; a foreign key on the
    entry with ``ON DELETE CASCADE``, so every delete of an entry takes its history along.
``changes`` (version 4)
    the change log: one row per change (``Change`` as JSON), ``seq`` in the order made.
``reports`` and ``entries.running`` (version 5)
    what workers report (``beatcore_track_runs``): one row per report (``task_id``, ``final``,
    ``report`` JSON), the newest ``beatcore.report_log.reports_kept`` per entry, applied where
    read; the running fact of an entry with an overlap policy, written by the ack.
"""

from __future__ import annotations

import psycopg

from beatcore.errors import SchemaVersionError, StoreError
from beatcore.storekit import Migration
from beatcore_postgres.connection import Connection

#: Every schema step, oldest first; ``{schema}`` in a statement is replaced by the quoted
#: schema name.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "entries, leadership and the fencing token sequence",
        (
            """
            CREATE TABLE {schema}.entries (
                name text COLLATE "C" PRIMARY KEY,
                entry_json text NOT NULL,
                state_json text NOT NULL,
                rev bigint NOT NULL DEFAULT 1,
                enabled boolean NOT NULL DEFAULT true,
                static boolean NOT NULL DEFAULT false,
                next_run_at timestamptz,
                due_at timestamptz,
                claim_token bigint,
                claimed_at timestamptz,
                claimed_next_run_at timestamptz,
                error text
            )
            """,
            "CREATE INDEX entries_due ON {schema}.entries (due_at, name) WHERE due_at IS NOT NULL",
            "CREATE INDEX entries_in_flight ON {schema}.entries (claimed_at, name)"
            " WHERE claimed_at IS NOT NULL",
            "CREATE INDEX entries_static ON {schema}.entries (name) WHERE static",
            "CREATE SEQUENCE {schema}.fencing_tokens AS bigint NO CYCLE",
            """
            CREATE TABLE {schema}.leadership (
                id integer PRIMARY KEY CHECK (id = 1),
                holder text,
                token bigint,
                acquired_at timestamptz,
                expires_at timestamptz,
                last_tick_at timestamptz
            )
            """,
            "INSERT INTO {schema}.leadership (id) VALUES (1)",
        ),
    ),
    Migration(
        2,
        "when a tick found a record unreadable; what the last beat to start said about itself",
        (
            # when ``error`` was first noted (NULL again with it once the record is written
            # again or reads at a retry)
            "ALTER TABLE {schema}.entries ADD COLUMN error_at timestamptz",
            # one row: the JSON of beatcore.store.BeatInfo (holder, start, schedule types)
            "CREATE TABLE {schema}.beat (id integer PRIMARY KEY CHECK (id = 1),"
            " info text NOT NULL)",
        ),
    ),
    Migration(
        3,
        "the run history of each entry",
        (
            # one row per run record (beatcore.store.RunRecord JSON), in order per entry;
            # the ack appends and trims, a delete of the entry takes its rows along
            """
            CREATE TABLE {schema}.runs (
                name text COLLATE "C" NOT NULL
                     REFERENCES {schema}.entries (name) ON DELETE CASCADE,
                seq bigint NOT NULL,
                record text NOT NULL,
                PRIMARY KEY (name, seq)
            )
            """,
        ),
    ),
    Migration(
        4,
        "the change log: who changed which entry, when and why, kept after a delete",
        (
            # ``record``: the JSON of a beatcore.store.Change; ``seq`` orders all changes;
            # record_changes keeps the newest beatcore_change_log_size rows of each name
            "CREATE TABLE {schema}.changes (seq bigserial PRIMARY KEY,"
            ' name text COLLATE "C" NOT NULL, record text NOT NULL)',
            "CREATE INDEX changes_by_name ON {schema}.changes (name, seq)",
        ),
    ),
    Migration(
        5,
        "what workers report: a log of reports per entry and the running fact",
        (
            # the running fact of an entry with an overlap policy (Running JSON), by the ack
            "ALTER TABLE {schema}.entries ADD COLUMN running text",
            # one row per worker report (JSON of beatcore.report_log.report_text), numbered
            # by one sequence (reports of one entry may come at once from two workers)
            "CREATE SEQUENCE {schema}.report_seq AS bigint",
            """
            CREATE TABLE {schema}.reports (
                name text COLLATE "C" NOT NULL
                     REFERENCES {schema}.entries (name) ON DELETE CASCADE,
                seq bigint NOT NULL DEFAULT nextval('{schema}.report_seq'),
                task_id text NOT NULL,
                final boolean NOT NULL,
                report text NOT NULL,
                PRIMARY KEY (name, seq)
            )
            """,
        ),
    ),
)

#: The schema version this release writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def quoted(schema: str) -> str:
    """The schema name as an SQL identifier (names are checked by :func:`urls.parse_url`)."""
    return '"' + schema.replace('"', '""') + '"'


def ensure_schema(
    conn: Connection, schema: str, url: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> int:
    """Make ``schema`` hold the current tables, creating or migrating them if needed.

    Called on the first call of a store that reaches the server. One round trip when the
    schema is current.

    :return: the version found before any migration (0: created now).
    :raises SchemaVersionError: the schema was written by a newer beatcore (not changed).
    :raises StoreError: the schema belongs to another application, or a migration failed (the
        schema stays at its old version).
    """
    target = _check_steps(migrations)
    found = _current_version(conn, schema)
    _refuse_newer(schema, url, found, target)
    if found == target:
        return found
    with conn.transaction():
        # One process migrates; the others wait here and then find the work done.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"beatcore:{schema}",))
        name = quoted(schema)
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
        found = _read_version(conn, schema)
        _refuse_newer(schema, url, found, target)
        if found == -1:
            _refuse_foreign(conn, schema, url)
            conn.execute(
                f"CREATE TABLE {name}.schema_version (id integer PRIMARY KEY CHECK (id = 1),"
                " version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(f"INSERT INTO {name}.schema_version (id, version) VALUES (1, 0)")
            found = 0
        for step in migrations[found:]:
            try:
                with conn.transaction():
                    for statement in step.statements:
                        conn.execute(statement.format(schema=name))
            except psycopg.DatabaseError as exc:
                raise StoreError(
                    f"PostgreSQL store {url}: migration of schema {schema!r} to version "
                    f"{step.version} ({step.description}) failed: {exc}; the schema stays at "
                    f"version {found}"
                ) from exc
        conn.execute(
            f"UPDATE {name}.schema_version SET version = %s, migrated_at = now() WHERE id = 1",
            (target,),
        )
    return found


def _current_version(conn: Connection, schema: str) -> int:
    """The schema's version in one statement (autocommit); -1 when it has no version table."""
    try:
        row = conn.execute(
            f"SELECT version FROM {quoted(schema)}.schema_version WHERE id = 1"
        ).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return -1
    return -1 if row is None else int(row[0])


def _read_version(conn: Connection, schema: str) -> int:
    """The schema's version inside a transaction (no failing statement); -1 when none."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{quoted(schema)}.schema_version",)).fetchone()
    if row is None or row[0] is None:
        return -1
    row = conn.execute(
        f"SELECT version FROM {quoted(schema)}.schema_version WHERE id = 1"
    ).fetchone()
    return -1 if row is None else int(row[0])


def _refuse_newer(schema: str, url: str, found: int, target: int) -> None:
    if found > target:
        raise SchemaVersionError(
            f"PostgreSQL store {url}: schema {schema!r} has version {found}, newer than "
            f"version {target} that this beatcore supports; it was written by a newer "
            f"beatcore: upgrade beatcore to use it (the tables were not changed)"
        )


def _refuse_foreign(conn: Connection, schema: str, url: str) -> None:
    row = conn.execute(
        "SELECT string_agg(relname, ', ' ORDER BY relname) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S')",
        (schema,),
    ).fetchone()
    if row is not None and row[0]:
        raise StoreError(
            f"PostgreSQL store {url}: schema {schema!r} holds tables of another application "
            f"({row[0]}) and no beatcore schema_version; not touching it: choose another "
            f"schema (?schema=... in beatcore_url or beatcore_store_options['schema'])"
        )


def _check_steps(migrations: tuple[Migration, ...]) -> int:
    versions = [step.version for step in migrations]
    if not versions or versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"PostgreSQL migrations must be numbered 1, 2, 3, ...; got {versions}")
    return versions[-1]
