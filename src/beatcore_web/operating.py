"""Every change the dashboard makes to the schedule, through :mod:`beatcore.operations`.

The core's operations check what they are asked with the CLI's rules (an existing name, a
static entry, a reason's length), make the store call and record the change in the change
log as made by ``by``: the signed-in user, else ``web@host``. This module only adapts them
to the dashboard: refusals become :class:`~beatcore_web.errors.ApiError` (by the error
handler), the result's warnings go back to the person.
"""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any

from beatcore import operations
from beatcore.entry import Entry
from beatcore.operations import OperationResult
from beatcore.store import Change, Store
from beatcore.timeutil import Clock, isoformat, utc_now
from beatcore_web.errors import ApiError

#: What the entry page's buttons and ``POST /api/entries/{name}/{action}`` do.
ACTIONS = ("enable", "disable", "trigger")


def default_by(user: str) -> str:
    """Return who a change is recorded as made by: ``user`` (signed in), else ``web@host``."""
    return user if user else f"web@{socket.gethostname()}"


def change_json(change: Change) -> dict[str, Any]:
    """Return one record of the change log as the API and the entry page show it."""
    return {
        "at": isoformat(change.at),
        "action": change.action,
        "by": change.by,
        "reason": change.reason,
        "fields": list(change.fields),
        "via": change.via,
    }


class Operations:
    """The changes one request may make, as ``by``, on ``store``.

    :param app: the Celery app, to warn about a task it does not know (None: no check).
    """

    def __init__(self, store: Store, by: str, *, clock: Clock = utc_now, app: Any = None) -> None:
        self.store = store
        self.by = by
        self.core = operations.Operations(store, clock=clock, app=app)

    def add(self, entry: Entry) -> OperationResult:
        """Add ``entry`` (refused when the name is taken)."""
        return self.core.save(entry, by=self.by)

    def replace(self, entry: Entry) -> OperationResult:
        """Replace the dynamic entry of that name with ``entry`` (an edit made whole)."""
        return self.core.save(entry, by=self.by, replace=True)

    def editable(self, name: str) -> Entry:
        """Return the entry ``name`` for the edit form or an edit.

        :raises ChangeRefused: a static entry (beat_schedule owns it).
        :raises EntryNotFound: no such entry.
        """
        return self.core.check_editable(name)

    def deletable(self, name: str) -> Entry | None:
        """Return the entry ``name`` for the delete confirmation (None: a record that
        cannot be read, which may still be removed).

        :raises ChangeRefused: a static entry (beat_schedule owns it).
        :raises EntryNotFound: no such entry.
        """
        return self.core.check_deletable(name)

    def delete_dynamic(self, name: str) -> OperationResult:
        """Remove ``name`` and its run history unless it is static."""
        return self.core.delete(name, by=self.by)

    def act(self, name: str, action: str, reason: str | None = None) -> OperationResult:
        """Do one of :data:`ACTIONS` to ``name``, saying why (``reason``, optional).

        :raises ApiError: 404 for another action.
        :raises EntryNotFound: no such entry.
        """
        if action == "enable":
            return self.core.enable(name, by=self.by, reason=reason)
        if action == "disable":
            return self.core.disable(name, by=self.by, reason=reason)
        if action == "trigger":
            return self.core.trigger(name, by=self.by, reason=reason)
        raise ApiError(404, f"no action {action!r}: the actions are {', '.join(ACTIONS)}")

    def trigger_at(self, name: str, at: datetime) -> OperationResult:
        """Make ``name`` due once more at ``at``."""
        return self.core.trigger(name, by=self.by, at=at)


def changes(store: Store, name: str, limit: int) -> list[dict[str, Any]]:
    """Return the change log of ``name``, newest first (empty where the store keeps none)."""
    return [change_json(change) for change in store.changes(name, limit)]
