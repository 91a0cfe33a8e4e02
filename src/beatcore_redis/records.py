"""Stored records of the Redis store read back: each definition and state decoded alone.

Whatever one record provokes while it is decoded (a number past float range, JSON nested
deeper than the interpreter's recursion limit, a field a validator refuses, a plugin's
``from_dict`` failing) becomes a :class:`~beatcore.errors.CorruptRecord` naming that record,
so a claim, an ack or a listing reports it and goes on with the others.
"""

from __future__ import annotations

from beatcore import serializer
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord, EntryNotFound

Raw = bytes | str | None


def load_entry(raw: bytes | str, name: str) -> Entry:
    """Decode the definition stored under ``name``.

    :raises CorruptRecord: the record cannot be read, whatever the reason.
    """
    try:
        return serializer.loads_entry(raw, name)
    except CorruptRecord:
        raise
    except Exception as exc:  # one record must never fail the call reading it
        raise CorruptRecord(name, f"{type(exc).__name__}: {exc}") from exc


def load_state(raw: bytes | str, name: str) -> EntryState:
    """Decode the state stored under ``name``.

    :raises CorruptRecord: the record cannot be read, whatever the reason.
    """
    try:
        return serializer.loads_state(raw, name)
    except CorruptRecord:
        raise
    except Exception as exc:  # one record must never fail the call reading it
        raise CorruptRecord(name, f"state: {type(exc).__name__}: {exc}") from exc


def load_pair(name: str, def_raw: Raw, state_raw: Raw) -> tuple[Entry, EntryState]:
    """Decode the definition and state of ``name`` (``None``: the record is absent).

    :raises EntryNotFound: there is no definition.
    :raises CorruptRecord: either record cannot be read, or the state is missing.
    """
    if def_raw is None:
        raise EntryNotFound(name)
    entry = load_entry(def_raw, name)
    if state_raw is None:
        raise CorruptRecord(name, "state: missing (the definition has no state record)")
    return entry, load_state(state_raw, name)
