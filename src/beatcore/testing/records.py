"""Test helpers that write straight into the built-in stores, past their public API.

Tests use them to plant records a store would never write itself (unreadable bytes, odd
names) and to drop the shared data of a ``memory://NAME`` schedule between cases.
"""

from __future__ import annotations

from datetime import datetime

from beatcore import storekit
from beatcore.stores import memory, memory_data
from beatcore.stores.sqlite import SqliteStore


def plant_memory_record(
    store: memory.MemoryStore, name: str, entry_raw: str, state_raw: str, due_at: datetime
) -> None:
    """Store raw record text as-is in a memory store, due at ``due_at``."""
    with store._data.mutex:
        store._data.table.records[name] = (entry_raw, state_raw)
        store._data.table.due[name] = due_at


def forget_memory_schedule(name: str) -> None:
    """Drop the shared data of ``memory://NAME`` (a later store of that name starts empty)."""
    memory_data.forget(name)


def plant_sqlite_record(
    store: SqliteStore,
    name: str | bytes,
    entry_raw: str | bytes,
    state_raw: str | bytes,
    due_at: datetime,
) -> None:
    """Store raw record text as-is in a SQLite store, due at ``due_at``.

    Bytes (of the name too) are kept as TEXT whatever they are, UTF-8 or not.
    """
    with store._db.transaction(write=True) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO entries (name, entry_json, state_json, due_at)"
            " VALUES (CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), ?)",
            (name, entry_raw, state_raw, storekit.to_micros(due_at)),
        )
