"""Every change the dashboard makes to the schedule, through this one seam.

Each method is one management operation (save, edit, delete, enable, disable with a reason,
trigger) made by ``by`` (the signed-in user, else ``web@host``). They call the store
directly until :mod:`beatcore.operations` (which also records each change in the change log)
is there; then this module calls it and nothing else in the dashboard changes.
"""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any

from beatcore.entry import Entry, EntryState
from beatcore.store import Store


def default_by(user: str) -> str:
    """Return who a change is recorded as made by: ``user`` (signed in), else ``web@host``."""
    return user if user else f"web@{socket.gethostname()}"


class Operations:
    """The changes one request may make, as ``by``, on ``store``."""

    def __init__(self, store: Store, by: str) -> None:
        self.store = store
        self.by = by

    def save(self, entry: Entry) -> EntryState:
        """Add ``entry`` or replace the definition of that name; return its state."""
        return self.store.save(entry)

    def delete(self, name: str) -> None:
        """Remove the entry ``name`` and its history."""
        self.store.delete(name)

    def enable(self, name: str) -> None:
        """Enable ``name`` (its next run is computed from now)."""
        self.store.set_enabled(name, True)

    def disable(self, name: str, reason: str | None) -> None:
        """Disable ``name``, with why (kept in the change log once the store keeps one)."""
        self.store.set_enabled(name, False)

    def trigger(self, name: str, at: datetime | None = None) -> None:
        """Make ``name`` due once more now (or at ``at``)."""
        self.store.trigger(name, at)

    def changes(self, name: str, limit: int) -> list[dict[str, Any]]:
        """Return the change log of ``name``, newest first, as JSON objects ([] without one)."""
        return []
