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
from beatcore_web.errors import ApiError

#: What the entry page's buttons and ``POST /api/entries/{name}/{action}`` do.
ACTIONS = ("enable", "disable", "trigger")


def static_refusal(name: str, verb: str) -> ApiError:
    """Return the 409 of a change beat_schedule would undo at beat's next start."""
    return ApiError(
        409,
        f"entry {name!r} is static: beat_schedule owns it and beat restores it from there "
        f"at its next start, so {verb} it in beat_schedule",
        {"name": "static entry"},
    )


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

    def dynamic(self, name: str, verb: str) -> Entry:
        """Return the entry ``name`` that a person may ``verb`` (edit, remove) here.

        :raises ApiError: 409 for a static entry (beat_schedule owns it).
        :raises EntryNotFound: no such entry.
        """
        entry = self.store.get(name)
        if entry.static:
            raise static_refusal(name, verb)
        return entry

    def delete_dynamic(self, name: str) -> None:
        """Remove ``name`` unless it is static (see :meth:`dynamic`)."""
        self.dynamic(name, "remove")
        self.delete(name)

    def act(self, name: str, action: str, reason: str | None = None) -> None:
        """Do one of :data:`ACTIONS` to ``name`` (``reason``: why it is disabled).

        :raises ApiError: 404 for another action.
        :raises EntryNotFound: no such entry.
        """
        if action not in ACTIONS:
            raise ApiError(404, f"no action {action!r}: the actions are {', '.join(ACTIONS)}")
        self.store.get(name)
        if action == "enable":
            self.enable(name)
        elif action == "disable":
            self.disable(name, reason)
        else:
            self.trigger(name)

    def changes(self, name: str, limit: int) -> list[dict[str, Any]]:
        """Return the change log of ``name``, newest first, as JSON objects ([] without one)."""
        return []
