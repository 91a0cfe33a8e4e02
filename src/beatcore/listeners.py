"""The listener hooks as typed calls that never raise.

A scheduler tells listener plugins what it did through :class:`Listeners`, one method per event
hook of :mod:`beatcore.hookspecs`, so a misspelt hook or a missing argument fails type checking
instead of at run time. Listeners run inside the tick, between claim and ack: an exception
escaping one would leave the batch unacked and its occurrences to be recovered a lock TTL later,
so a listener that raises is logged with its traceback and otherwise ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import pluggy
from celery.utils.log import get_logger

from beatcore import hookspecs
from beatcore.entry import Entry
from beatcore.errors import CorruptRecord
from beatcore.plugins import Plugins
from beatcore.runs import Skipped

logger = get_logger("beatcore.scheduler")


def _caller(plugins: Plugins, spec: Callable[..., object]) -> pluggy.HookCaller:
    """Return the hook caller of ``spec``, named by the hookspec itself (checked by mypy)."""
    caller: pluggy.HookCaller = getattr(plugins.hook, spec.__name__)
    return caller


class Listeners:
    """Calls the event hooks of every registered listener; one per scheduler.

    Each method is called by the scheduler at the moment its hook's docstring names, and
    returns None whatever the listeners do.
    """

    def __init__(self, plugins: Plugins) -> None:
        self._dispatched = _caller(plugins, hookspecs.beatcore_entry_dispatched)
        self._failed = _caller(plugins, hookspecs.beatcore_dispatch_failed)
        self._skipped = _caller(plugins, hookspecs.beatcore_occurrences_skipped)
        self._skipped_one = _caller(plugins, hookspecs.beatcore_occurrence_skipped)
        self._leadership = _caller(plugins, hookspecs.beatcore_leadership_changed)
        self._corrupt = _caller(plugins, hookspecs.beatcore_record_corrupt)

    def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        """After the message of ``occurrence`` was written to the broker."""
        # Called for every send: with no listener, skip pluggy's call (a few µs each).
        if self._dispatched.get_hookimpls():
            _call(self._dispatched, entry=entry, occurrence=occurrence, task_id=task_id)

    def dispatch_failed(
        self, entry: Entry, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        """After sending ``occurrence`` failed (it is retried later with the same task id)."""
        _call(self._failed, entry=entry, occurrence=occurrence, task_id=task_id, error=error)

    def occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        """Once per entry and tick, with every occurrence of ``entry`` the tick skipped.

        Listeners of the deprecated per-occurrence hook hear of the latest one only.
        """
        if not skipped:
            return
        _call(self._skipped, entry=entry, skipped=skipped)
        if self._skipped_one.get_hookimpls():
            latest = skipped[-1]
            _call(
                self._skipped_one, entry=entry, occurrence=latest.occurrence, reason=latest.reason
            )

    def leadership_changed(self, is_leader: bool, holder: str, token: int | None) -> None:
        """After this process gained (True) or lost (False) the lock."""
        _call(self._leadership, is_leader=is_leader, holder=holder, token=token)

    def record_corrupt(self, error: CorruptRecord) -> None:
        """When the claim met a due record it cannot read (it is skipped, never deleted)."""
        _call(self._corrupt, error=error)


def _call(caller: pluggy.HookCaller, **kwargs: object) -> None:
    try:
        caller(**kwargs)
    except Exception:
        logger.exception("beatcore: a listener of %s raised; ignored", caller.name)
