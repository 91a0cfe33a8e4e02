"""What a batch of saves (:meth:`beatcore.store.Store.save_many`) is made of and reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from beatcore.entry import Entry, EntryState
from beatcore.errors import InvalidEntry, InvalidSchedule


@attrs.frozen
class SaveManyReport:
    """What :meth:`~beatcore.store.Store.save_many` did, by entry name.

    :param states: each entry saved (or found equal), with its state after the save.
    :param refused: each entry that could not be saved, with why (nothing of it was written).
    """

    states: Mapping[str, EntryState] = attrs.field(factory=dict)
    refused: Mapping[str, str] = attrs.field(factory=dict)


#: What saving one entry can refuse it with (the entry's own fault, not the store's).
ENTRY_ERRORS = (InvalidEntry, InvalidSchedule)


def unique_batch(entries: Iterable[Entry]) -> tuple[list[Entry], dict[str, str]]:
    """Return the entries of a :meth:`~beatcore.store.Store.save_many` batch, each name once
    (the last given wins, in the place of the first), and the items refused as not entries."""
    batch: dict[str, Entry] = {}
    refused: dict[str, str] = {}
    for i, item in enumerate(entries):
        if isinstance(item, Entry):
            batch[item.name] = item
        else:
            refused[f"item {i}"] = f"not an Entry: {type(item).__name__} {item!r:.60}"
    return list(batch.values()), refused
