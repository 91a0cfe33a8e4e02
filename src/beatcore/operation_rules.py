"""The rules every management operation applies, and the words it uses for them: who made a
change (:func:`actor`), which fields it changed, what a reason may be, why a static entry is
refused, which change paused an entry. Used by :mod:`beatcore.operations` (which exports them
too) and by the front ends that render its results."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from beatcore.entry import Entry
from beatcore.errors import ChangeRefused
from beatcore.serializer import entry_to_dict
from beatcore.store import Change

#: The longest reason a change may carry (characters).
MAX_REASON_LENGTH = 500
#: The longest ``by`` a change may carry (characters).
MAX_BY_LENGTH = 200
_NONE_WORDS = {"none", "never", ""}


def actor(user: str | None = None) -> str:
    """Return ``user@host`` for this process (``user`` defaults to the login name): the ``by``
    the CLI gives; beat's static sync uses ``actor("beat")``."""
    if user is None:
        try:
            user = getpass.getuser()
        except (OSError, KeyError, ImportError):  # no login name (a container's odd uid)
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


def static_refusal(name: str, verb: str) -> str:
    """Return why ``verb`` is refused on a static entry, and how to force it."""
    return (
        f"entry {name!r} is static: it comes from beat_schedule and beat restores it from "
        f"there at its next start, so {verb} it in beat_schedule instead (or pass --force to "
        f"{verb} it in the store anyway)"
    )


def changed_fields(old: Entry, new: Entry) -> tuple[str, ...]:
    """Return the names of the fields whose stored form differs between ``old`` and ``new``."""
    before, after = entry_to_dict(old), entry_to_dict(new)
    return tuple(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)))


def apply_fields(fields: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``fields`` (an entry's, as keyword arguments) with ``changes`` applied.

    ``options`` replaces them all; ``queue`` then sets or (``"none"``) removes the queue
    option; every other key replaces its field.
    """
    result = dict(fields)
    rest = dict(changes)
    if "options" in rest:
        result["options"] = rest.pop("options")
    queue = rest.pop("queue", None)
    if queue is not None:
        options = dict(result.get("options") or {})
        if queue.strip().lower() in _NONE_WORDS:
            options.pop("queue", None)
        else:
            options["queue"] = queue
        result["options"] = options
    result.update(rest)
    return result


def pause_of(changes: Sequence[Change]) -> Change | None:
    """Return the change that disabled the entry, from its log (newest first): the newest
    change that set whether it is enabled, when that was a disable (or an edit or add that
    may have been one; the caller knows the entry is disabled), else None."""
    for change in changes:
        if change.action == "enable":
            return None
        if change.action == "disable" or "enabled" in change.fields:
            return change
        if change.action == "add" and change.via is None:
            return change
    return None


def check_reason(reason: str | None, name: str) -> str | None:
    """Return ``reason`` stripped (None when empty).

    :raises ChangeRefused: it is not text or longer than :data:`MAX_REASON_LENGTH`.
    """
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ChangeRefused(name, "reason", f"a reason must be text, got {reason!r:.60}", "reason")
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ChangeRefused(
            name,
            "reason",
            f"the reason is {len(reason)} characters long; at most {MAX_REASON_LENGTH} are kept",
            "reason",
        )
    return reason or None


def check_by(by: str | None, name: str) -> str | None:
    if by is not None and (not isinstance(by, str) or len(by) > MAX_BY_LENGTH):
        raise ChangeRefused(
            name, "by", f"'by' must be text of at most {MAX_BY_LENGTH} characters", "by"
        )
    return by


def task_warning(app: Any, task: str) -> str | None:
    """Return a warning when ``task`` is not registered in ``app`` (it is still sent by name)."""
    try:
        known = task in app.tasks
    except Exception:  # an app that cannot finalize is not this check's business
        return None
    if known:
        return None
    return (
        f"warning: task {task!r} is not registered in app {app.main or '?'!r}; beat sends it "
        "by name, so a worker must know it"
    )
