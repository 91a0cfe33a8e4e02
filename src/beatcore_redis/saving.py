"""Saving entries on the Redis store: :func:`save` and :func:`save_many` in one round trip.

A save is a compare-and-set write (:mod:`.writes`). It does not read first: when this store
last read or wrote the name (:class:`SeenRecords`) it expects those records; otherwise it
sends the entry as a new one, expecting :data:`.writes.UNKNOWN`, and the script decides: it
writes a new entry as given, and over a stored one whose timing fields are the same it writes
the definition alone and keeps the state (then replies with the records it found, and the
save checks that :func:`beatcore.storekit.decide_save` agrees, writing again if not). Any other
stored record (the timing changed, unreadable) makes the script reply with what it found, and
the save decides again from that: one more round trip. So a new entry, an unchanged one, a
change that keeps the timing, and any change of an entry this store saw cost one round trip;
a timing change of an entry this store never saw costs two. The decision is always
:func:`beatcore.storekit.decide_save` over the records actually stored. A single save of a
name this store never saw (the usual one) goes as the script's shorter path for one such
entry (:data:`.writes.WriteMode.SAVE_UNKNOWN`), with the outcome and reply of the batch's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from beatcore import entry_templates, serializer, storekit, timing
from beatcore.batch import ENTRY_ERRORS, SaveManyReport, unique_batch
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
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


class _Pending:
    """One entry of a save or a batch until it is written: what it expects to find."""

    __slots__ = ("definition", "entry", "fresh", "known", "replaced", "template")

    def __init__(self, entry: Entry, known: Records | None) -> None:
        self.entry = entry
        #: the definitions that differ from this one only in the name (None: none)
        self.template = template = entry_templates.template_of(entry)
        self.definition = (
            serializer.dumps_entry(entry) if template is None else template.text(entry.name)
        )
        #: the records the next write expects (None: unknown, the script decides)
        self.known = known
        #: ``known`` came from the server in this save (not remembered from before)
        self.fresh = False
        #: the definition this save's own replaced, when the script wrote it without its
        #: state and the decision over the one it replaced wants another state
        self.replaced: Any = None


#: The first state of the entries of one shape saved at one instant, its text, and its
#: due score (None: the entry's own, with a jitter derived from its name).
_First = tuple[EntryState, str, str | None]


def _write_of(
    handle: RedisHandle, item: _Pending, now: datetime, firsts: dict[Any, _First] | None
) -> tuple[EntryState, writes.Put | None]:
    """Return the state the entry will have and its write (None: nothing to write).

    ``firsts`` holds the first state of each template, or shape
    (:func:`entry_templates.shape_key`) of entries with arguments, saved at ``now`` (a new
    entry's state depends on its timing fields and ``now`` only), so a batch computes it
    once; None: a single save, nothing to share.
    """
    entry = item.entry
    if item.known is not None:
        state, put = _known_write(handle, item, *item.known)
        if put is not None or item.fresh:
            return state, put
        # equal to the records remembered: the script checks they are still those
    shape: Any = item.template
    if shape is None and firsts is not None:
        shape = entry_templates.shape_key(entry)
    if shape is None or firsts is None:
        state = timing.state_after_save(None, None, entry, now, handle.default_timezone)
        return state, writes.put(entry, state, writes.UNKNOWN, None, definition=item.definition)
    first = firsts.get(shape)
    if first is None:
        state = timing.state_after_save(None, None, entry, now, handle.default_timezone)
        shared = None if entry.jitter > 0 else RedisHandle.score(timing.state_due_at(entry, state))
        first = firsts[shape] = (state, serializer.dumps_state(state), shared)
    state, state_text, score = first
    if score is None:
        score = RedisHandle.score(timing.state_due_at(entry, state))
    put = writes.Put(
        entry.name, writes.UNKNOWN, b"", item.definition, state_text, score, entry.static
    )
    return state, put


def _known_write(
    handle: RedisHandle, item: _Pending, def_raw: Any, state_raw: Any
) -> tuple[EntryState, writes.Put | None]:
    """The write of ``item`` over the records it expects (None: nothing to write)."""
    entry = item.entry
    if item.replaced is not None and storekit.text(def_raw) == item.definition:
        # the stored definition is this save's own: decide over the one it replaced
        stored = storekit.decode_record(entry.name, item.replaced, state_raw)
        state, _ = storekit.decide_save(entry, stored, handle.now(), handle.default_timezone)
        return state, writes.put(entry, state, def_raw, state_raw, definition=item.definition)
    return writes.save_write(handle, entry, def_raw, state_raw, item.definition)


def _kept_state(handle: RedisHandle, entry: Entry, before: Records) -> EntryState | None:
    """The script wrote ``entry``'s definition and kept the state ``before`` held: return
    that state if :func:`storekit.decide_save` over ``before`` agrees, else None (an
    unreadable record, a timing change the script could not see)."""
    stored = storekit.decode_record(entry.name, *before)
    if isinstance(stored, CorruptRecord):
        return None
    old, state = stored
    if not timing.timing_changed(old, entry):
        return state  # what decide_save gives then, whether the definitions are equal or not
    decided, _ = storekit.decide_save(entry, stored, handle.now(), handle.default_timezone)
    return state if decided == state else None


def _settle(
    handle: RedisHandle,
    item: _Pending,
    state: EntryState,
    put: writes.Put,
    replies: writes.SaveReplies,
) -> tuple[EntryState, Records] | None:
    """Return what the write of ``put`` (``item``'s, giving ``state``) did, by the
    ``replies`` of its call: the state after and the records stored now; None when it must
    be written again (``item`` then expects the records its call found)."""
    name = put.name
    found = replies.found.get(name)
    if found is not None:
        item.known, item.fresh = found, True
        return None
    if name not in replies.written:
        return None  # its call met another entry's change: send it again
    kept = replies.kept.get(name)
    if kept is not None:
        kept_state = _kept_state(handle, item.entry, kept)
        if kept_state is None:
            item.known, item.replaced = (item.definition, kept[1]), kept[0]
            item.fresh = True
            return None
        return kept_state, (item.definition, kept[1])
    return state, (put.definition, put.state)


def _save_all(
    handle: RedisHandle,
    what: str,
    items: list[_Pending],
    refused: dict[str, str] | None,
    attempts: int = writes.MAX_WRITE_ATTEMPTS,
) -> tuple[dict[str, EntryState], list[tuple[str, Records]]]:
    """Write ``items`` until each is written or refused (its error kept in ``refused``;
    None: raised), in at most ``attempts`` round trips; return the states after and the
    records each saved name holds now."""
    states: dict[str, EntryState] = {}
    stored: list[tuple[str, Records]] = []
    pending = items
    for _ in range(attempts):
        puts: list[writes.Put] = []
        decided: dict[str, tuple[_Pending, EntryState]] = {}
        now = handle.now()  # one instant for the entries of a call: new ones start alike
        firsts: dict[Any, _First] = {}
        for item in pending:
            try:
                state, put = _write_of(handle, item, now, firsts)
            except ENTRY_ERRORS as exc:
                if refused is None:
                    raise
                refused[item.entry.name] = str(exc)
                continue
            if put is None:
                states[item.entry.name] = state
                stored.append((item.entry.name, item.known or (None, None)))
            else:
                puts.append(put)
                decided[put.name] = (item, state)
        if not puts:
            return states, stored
        replies = writes.save_chunks(handle, what, puts)
        pending = []
        if not replies.found and not replies.kept and len(replies.written) == len(puts):
            # every put written as sent (the usual batch of new entries): what _settle gives
            for put in puts:
                states[put.name] = decided[put.name][1]
                stored.append((put.name, (put.definition, put.state)))
            return states, stored
        for put in puts:
            item, state = decided[put.name]
            done = _settle(handle, item, state, put, replies)
            if done is None:
                pending.append(item)
            else:
                states[put.name] = done[0]
                stored.append((put.name, done[1]))
        if not pending:  # every put settled (kept or found as it is) on this attempt
            return states, stored
    raise writes.gave_up(handle, what, [item.entry.name for item in pending])


def save(handle: RedisHandle, seen: SeenRecords, entry: Entry) -> EntryState:
    """Save ``entry`` (see :meth:`beatcore.store.Store.save`) and return its state after.

    :raises InvalidEntry: the entry cannot be stored. :raises StoreError: the records kept
        changing concurrently (:data:`.writes.MAX_WRITE_ATTEMPTS` attempts).
    """
    name = entry.name
    item = _Pending(entry, seen.get(name))
    attempts = writes.MAX_WRITE_ATTEMPTS
    if item.known is None:
        # the usual save (a name this store has not seen): one call, written as new, or
        # the script kept the state; what _save_all does, for one entry
        state, put = _write_of(handle, item, handle.now(), None)
        if put is not None:
            done = _settle(handle, item, state, put, writes.save_chunks(handle, "save", [put]))
            if done is not None:
                seen.remember(name, *done[1])
                return done[0]
            attempts -= 1
    states, stored = _save_all(handle, "save", [item], None, attempts)
    for stored_name, (definition, state_raw) in stored:
        seen.remember(stored_name, definition, state_raw)
    return states[name]


def save_many(handle: RedisHandle, entries: Iterable[Entry]) -> SaveManyReport:
    """Save ``entries`` (see :meth:`beatcore.store.Store.save_many`): one pipeline of write
    calls of :data:`.writes.WRITE_CHUNK` entries, none of them read first; the entries the
    script answered with their records (a timing change, a concurrent change) are decided
    again from them and written again (one more round trip).
    """
    batch, refused = unique_batch(entries)
    items: list[_Pending] = []
    for entry in batch:
        try:
            items.append(_Pending(entry, None))
        except ENTRY_ERRORS as exc:
            refused[entry.name] = str(exc)
    states, _ = _save_all(handle, "save many", items, refused)
    return SaveManyReport(states, refused)
