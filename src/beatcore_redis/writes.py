"""Compare-and-set writes of the Redis store: the ``write`` script and what it is given.

A management write (save, trigger, delete, an ack merged after a change in flight) and every
chunk of the static sync read the records first, then send each as a :class:`Put` or
:class:`Delete` naming the bytes it expects to find. The script writes a call whole or not at
all, and names the entries that changed since they were read; the writer reads again and
retries (up to :data:`MAX_WRITE_ATTEMPTS` times).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from beatcore import serializer, storekit, timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import StoreError
from beatcore_redis.handle import RedisHandle
from beatcore_redis.keys import SCHEMA_VERSION

#: How often a compare-and-set write reads again after a concurrent change before giving up.
MAX_WRITE_ATTEMPTS = 50
#: Entries per call of the write script; a larger write goes as several calls in one pipeline.
WRITE_CHUNK = 1000
#: An expected value the script does not compare.
UNCHECKED = "*"
#: The expected definition of a save that does not know the records (``SAVES`` mode only):
#: the script decides (see ``write.lua``).
UNKNOWN = "?"


class WriteMode(enum.Enum):
    """What a call of the write script is; the value is what the script receives."""

    MANAGEMENT = "w"
    """A management write: applied entry by entry; it outdates the static digest when it
    touches a static entry."""
    SAVES = "m"
    """Saves of unique names (save, save_many): a management write with variadic commands;
    a conflict reply carries the records found, so the writer need not read them again."""
    SAVE_UNKNOWN = "1"
    """One ``SAVES`` put expecting :data:`UNKNOWN` (a save of a name the store never saw, the
    usual save): the outcome and reply of ``SAVES`` in fewer steps (a changed save at 10k
    entries: 31-33 us of server time against 39 us)."""
    SYNC_CHUNK = "s"
    """A chunk of the static sync (unique names, written with variadic commands)."""
    SYNC_LAST = "S"
    """The static sync's last chunk: it also stores the digest of the synced set."""


class SyncMark(NamedTuple):
    """Marks a write as the static sync's (see ``write.lua``).

    :param generation: the write generation the sync read (meta ``gen``).
    :param digest: the digest of the static set it writes.
    """

    generation: int
    digest: str


class Put(NamedTuple):
    """Write a definition and its state, if both are still as read.

    :param expected_definition, expected_state: the bytes read (``b""``: absent).
    :param due_score: the due-index score (``""``: not due), see :meth:`RedisHandle.score`.
    """

    name: str
    expected_definition: bytes | str
    expected_state: bytes | str
    definition: bytes | str
    state: str
    due_score: str
    static: bool

    def script_args(self) -> list[Any]:
        """The eight arguments of this entry in a write-script call."""
        return [
            "put",
            self.name,
            self.expected_definition,
            self.expected_state,
            self.definition,
            self.state,
            self.due_score,
            "1" if self.static else "0",
        ]


class Delete(NamedTuple):
    """Delete an entry with its state, due slot, claim and run history.

    :param expected_definition: the bytes read, or :data:`UNCHECKED`.
    """

    name: str
    expected_definition: bytes | str = UNCHECKED

    def script_args(self) -> list[Any]:
        """The eight arguments of this entry in a write-script call."""
        return ["del", self.name, self.expected_definition, UNCHECKED, "", "", "", "0"]


Write = Put | Delete


def put(
    entry: Entry,
    state: EntryState,
    def_raw: bytes | str | None,
    state_raw: bytes | str | None,
    *,
    definition: bytes | str | None = None,
) -> Put:
    """Return the :class:`Put` of ``entry`` and ``state`` over the records read, due when
    the state says (``definition``: ``entry`` serialized, when the caller has it already)."""
    return Put(
        entry.name,
        def_raw or b"",
        state_raw or b"",
        serializer.dumps_entry(entry) if definition is None else definition,
        serializer.dumps_state(state),
        RedisHandle.score(timing.state_due_at(entry, state)),
        entry.static,
    )


def save_write(
    handle: RedisHandle,
    entry: Entry,
    def_raw: bytes | str | None,
    state_raw: bytes | str | None,
    definition: bytes | str | None = None,
) -> tuple[EntryState, Put | None]:
    """Return the state after saving ``entry`` over the records read, and the write (None:
    the stored definition is equal, nothing to write); see :func:`storekit.decide_save`."""
    stored = None if def_raw is None else storekit.decode_record(entry.name, def_raw, state_raw)
    state, changed = storekit.decide_save(entry, stored, handle.now(), handle.default_timezone)
    if not changed:
        return state, None
    return state, put(entry, state, def_raw, state_raw, definition=definition)


def read(handle: RedisHandle, names: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """Return the raw definitions and states of ``names`` (one round trip; None: absent),
    the bytes a compare-and-set write then expects."""
    if not names:
        return [], []
    keys = handle.keys
    defs, states = handle.calls.pipeline(
        "read entries",
        lambda p: (p.hmget(keys.defs, list(names)), p.hmget(keys.states, list(names))),
    )
    return list(defs), list(states)


def write(handle: RedisHandle, what: str, writes: Sequence[Write]) -> list[str]:
    """Compare-and-set ``writes``; return the names that changed meanwhile (nothing written)."""
    if not writes:
        return []
    return write_chunks(handle, what, writes, WRITE_CHUNK)[1]


def write_chunks(
    handle: RedisHandle,
    what: str,
    writes: Sequence[Write],
    chunk: int,
    sync: SyncMark | None = None,
) -> tuple[set[str], list[str]]:
    """Compare-and-set ``writes`` in calls of ``chunk`` entries, all in one round trip.

    Each call is written whole or not at all. ``sync`` marks the calls as the static sync's:
    the last stores the digest (see ``write.lua``). Return the names written and the names
    that changed meanwhile (their call wrote nothing).
    """
    chunks, replies = _run(handle, what, writes, chunk, sync, WriteMode.MANAGEMENT)
    written: set[str] = set()
    conflicts: list[str] = []
    for part, reply in zip(chunks, replies, strict=True):
        if int(reply[0]) == 1:
            written.update(item.name for item in part)
        else:
            conflicts.extend(storekit.text(name) for name in reply[1:])
    return written, conflicts


class SaveReplies(NamedTuple):
    """What a :func:`save_chunks` call did.

    :param written: the names written (or found equal).
    :param found: for each name whose call met other records than expected, the definition
        and state found (None: absent); nothing of that call was written.
    :param kept: for each :data:`UNKNOWN` save written without its state (the script found
        the same timing), the definition and state that were stored before it.
    """

    written: set[str]
    found: dict[str, tuple[Any, Any]]
    kept: dict[str, tuple[Any, Any]]


def save_chunks(handle: RedisHandle, what: str, puts: Sequence[Put]) -> SaveReplies:
    """Compare-and-set ``puts`` (unique names) in calls of :data:`WRITE_CHUNK`, one round trip.

    A put may expect :data:`UNKNOWN`: the script then writes it as a new entry, keeps the
    stored state, or answers with the records (see ``write.lua``). Every name of a call that
    met a change was not written.
    """
    if len(puts) == 1:
        chunks: list[Sequence[Write]] = [puts]
        replies = [save_one(handle, what, puts[0])]
    else:
        chunks, replies = _run(handle, what, puts, WRITE_CHUNK, None, WriteMode.SAVES)
    result = SaveReplies(set(), {}, {})
    for part, reply in zip(chunks, replies, strict=True):
        into = result.found
        if int(reply[0]) == 1:
            result.written.update(item.name for item in part)
            into = result.kept
        for i in range(1, len(reply), 3):
            into[storekit.text(reply[i])] = (reply[i + 1], reply[i + 2])
    return result


def save_one(handle: RedisHandle, what: str, put: Put) -> Any:
    """Compare-and-set one ``put`` as :func:`save_chunks` does and return the script's
    reply: ``[1]`` written, ``[1, name, definition, state]`` written with the state kept
    (the records it found), ``[0, name, definition, state]`` not written (the records
    found). The call is packed but for the entry's own arguments (see ``PreparedCall``).
    """
    scripts = handle.calls.scripts
    if put.expected_definition == UNKNOWN:
        call = scripts.prepared("save unknown", "write", lambda: _keys(handle), _UNKNOWN_ARGS)
    else:
        call = scripts.prepared("save", "write", lambda: _keys(handle), _SAVES_ARGS)
    return handle.calls.run_prepared(what, call, put.script_args())


def _run(
    handle: RedisHandle,
    what: str,
    writes: Sequence[Write],
    chunk: int,
    sync: SyncMark | None,
    management: WriteMode,
) -> tuple[list[Sequence[Write]], list[Any]]:
    """Call the write script once per ``chunk`` entries in one pipeline; return the chunks and
    the replies."""
    chunks = [writes[i : i + chunk] for i in range(0, len(writes), chunk)] or [[]]
    arg_lists: list[list[Any]] = []
    for i, part in enumerate(chunks):
        if sync is None:
            mode, generation, digest = management, 0, ""
        else:
            last = i == len(chunks) - 1
            mode = WriteMode.SYNC_LAST if last else WriteMode.SYNC_CHUNK
            generation, digest = sync.generation + i, sync.digest
        args: list[Any] = _lead_args(mode, generation, digest)
        for item in part:
            args += item.script_args()
        arg_lists.append(args)
    replies = handle.calls.run_scripts(what, "write", _keys(handle), arg_lists)
    return chunks, list(replies)


def _lead_args(mode: WriteMode, generation: int, digest: str) -> list[Any]:
    """The arguments of a write-script call before its entries' (see ``write.lua``)."""
    return [str(SCHEMA_VERSION), mode.value, str(generation), digest]


#: The arguments of a :data:`WriteMode.SAVES` call before its entries', and of a
#: :data:`WriteMode.SAVE_UNKNOWN` call before its one entry's.
_SAVES_ARGS = tuple(_lead_args(WriteMode.SAVES, 0, ""))
_UNKNOWN_ARGS = tuple(_lead_args(WriteMode.SAVE_UNKNOWN, 0, ""))


def _keys(handle: RedisHandle) -> list[str]:
    """The keys of a write-script call, in the order ``write.lua`` takes them."""
    keys = handle.keys
    return [
        keys.defs, keys.states, keys.due, keys.inflight, keys.claimed, keys.static,
        keys.corrupt, keys.meta, keys.history_prefix, keys.running, keys.reports_prefix,
    ]  # fmt: skip


def gave_up(handle: RedisHandle, what: str, names: Iterable[str]) -> StoreError:
    """Return the error of a write that met a concurrent change :data:`MAX_WRITE_ATTEMPTS`
    times."""
    return StoreError(
        f"{what} at {handle.url} gave up after {MAX_WRITE_ATTEMPTS} attempts: entries "
        f"{sorted(names)} kept changing concurrently"
    )
