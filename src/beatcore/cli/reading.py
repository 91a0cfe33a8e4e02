"""Reading a whole schedule for a report: every readable entry with its state, and the rest.

One unreadable record (a definition or a state that cannot be decoded) never stops a report:
the good entries are listed and each bad one is named with why it cannot be read.
"""

from __future__ import annotations

import sys
from datetime import datetime

import attrs

from beatcore import timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.store import Store


@attrs.frozen
class Schedule:
    """What ``list``, ``status`` and ``export`` show.

    :param rows: each readable entry with its state, sorted by name.
    :param unreadable: the error of each record that cannot be read, sorted by name.
    """

    rows: tuple[tuple[Entry, EntryState], ...]
    unreadable: tuple[CorruptRecord, ...]


def read_schedule(store: Store) -> Schedule:
    """Return the store's readable entries with their states, and its unreadable records:
    those beat took out of the due index as unreadable, and those this process cannot read.

    One :meth:`~beatcore.store.Store.entries_page` of the whole schedule, so a store that
    pages cheaply answers in a constant number of round trips (not one state read per
    entry); an entry removed while this reads is left out.
    """
    rows: list[tuple[Entry, EntryState]] = []
    unreadable: list[CorruptRecord] = []
    for item in store.entries_page(None, sys.maxsize):
        if isinstance(item, CorruptRecord):
            unreadable.append(item)
        else:
            rows.append(item)
    return Schedule(tuple(rows), tuple(unreadable))


def overdue_by(entry: Entry, state: EntryState, now: datetime, threshold: float) -> float | None:
    """Return how many seconds the entry is past due when that is more than ``threshold``.

    A disabled entry, or one with no run left, is never overdue. Called for each entry that
    ``list`` shows; a leader that ticks sends an entry long before it gets this late.
    """
    if not entry.enabled:
        return None
    due = timing.state_due_at(entry, state)
    if due is None:
        return None
    late = (now - due).total_seconds()
    return late if late > threshold else None
