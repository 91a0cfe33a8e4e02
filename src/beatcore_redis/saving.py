"""Saving entries on the Redis store: :func:`save` in one round trip, :func:`save_many` in two.

A save is a compare-and-set write (:mod:`.writes`) that expects the records it decided from.
:func:`save` does not read first: it decides from the records this store last read or wrote
under that name (:class:`SeenRecords`), or as for a new entry when it knows none, and the
script writes only if the records are still those. When they are not, the script's reply
carries the records it found, and the save decides again from them: a new entry, or one this
store read (``get``) or wrote before, costs one round trip; any other, two. The decision is
always :func:`beatcore.storekit.decide_save` over the records actually stored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from beatcore import serializer
from beatcore.batch import ENTRY_ERRORS, SaveManyReport, unique_batch
from beatcore.entry import Entry, EntryState
from beatcore_redis import writes
from beatcore_redis.handle import RedisHandle

#: How many names' records a store remembers for its next save of them.
SEEN_LIMIT = 1024

Records = tuple[Any, Any]
"""A raw definition and state as read (None: absent)."""


class SeenRecords:
    """The records one store last read or wrote, by name, at most :data:`SEEN_LIMIT` (the
    oldest are forgotten first). Only a guess: a save compares them with what is stored.
    Threads sharing a store share it (under a mutex)."""

    def __init__(self) -> None:
        self._records: dict[str, Records] = {}
        self._mutex = threading.Lock()

    def get(self, name: str) -> Records | None:
        """Return the records last seen under ``name``, or None."""
        with self._mutex:
            return self._records.get(name)

    def remember(self, name: str, definition: Any, state: Any) -> None:
        """Note the records just read or written under ``name``."""
        with self._mutex:
            self._records.pop(name, None)
            self._records[name] = (definition, state)
            if len(self._records) > SEEN_LIMIT:
                del self._records[next(iter(self._records))]

    def forget(self, name: str) -> None:
        """Drop what is known of ``name`` (deleted)."""
        with self._mutex:
            self._records.pop(name, None)


def save(handle: RedisHandle, seen: SeenRecords, entry: Entry) -> EntryState:
    """Save ``entry`` (see :meth:`beatcore.store.Store.save`) and return its state after.

    :raises InvalidEntry: the entry cannot be stored. :raises StoreError: the records kept
        changing concurrently (:data:`.writes.MAX_WRITE_ATTEMPTS` attempts).
    """
    definition = serializer.dumps_entry(entry)
    known = seen.get(entry.name)
    def_raw, state_raw = known or (None, None)
    fresh = False  # the records decided from were read now, not remembered or guessed
    for _ in range(writes.MAX_WRITE_ATTEMPTS):
        state, put = writes.save_write(handle, entry, def_raw, state_raw, definition)
        if put is None:
            if fresh:
                seen.remember(entry.name, def_raw, state_raw)
                return state
            # equal to what was seen: nothing to write if it is still what is stored
            defs, states = writes.read(handle, [entry.name])
            def_raw, state_raw, fresh = defs[0], states[0], True
            continue
        written, found = writes.save_chunks(handle, "save", [put])
        if written:
            seen.remember(entry.name, put.definition, put.state)
            return state
        def_raw, state_raw = found[entry.name]
        fresh = True
    raise writes.gave_up(handle, "save", [entry.name])


def save_many(handle: RedisHandle, entries: Iterable[Entry]) -> SaveManyReport:
    """Save ``entries`` (see :meth:`beatcore.store.Store.save_many`): one round trip reads
    every record, one pipeline writes the changes in calls of :data:`.writes.WRITE_CHUNK`
    entries; a call that met a concurrent change is decided again from the records its reply
    carries and written again (one more round trip).
    """
    batch, refused = unique_batch(entries)
    states: dict[str, EntryState] = {}
    defs, raw_states = writes.read(handle, [entry.name for entry in batch])
    stored: dict[str, Records] = {
        entry.name: (d, s) for entry, d, s in zip(batch, defs, raw_states, strict=True)
    }
    pending = batch
    for _ in range(writes.MAX_WRITE_ATTEMPTS):
        puts: list[writes.Put] = []
        decided: dict[str, tuple[Entry, EntryState]] = {}
        for entry in pending:
            try:
                state, put = writes.save_write(handle, entry, *stored[entry.name])
            except ENTRY_ERRORS as exc:
                refused[entry.name] = str(exc)
                continue
            if put is None:
                states[entry.name] = state
            else:
                puts.append(put)
                decided[entry.name] = (entry, state)
        if not puts:
            return SaveManyReport(states, refused)
        written, found = writes.save_chunks(handle, "save many", puts)
        for name in written:
            states[name] = decided[name][1]
        stored.update(found)
        pending = [entry for name, (entry, _) in decided.items() if name not in written]
    raise writes.gave_up(handle, "save many", [entry.name for entry in pending])
