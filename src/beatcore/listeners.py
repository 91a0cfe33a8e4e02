"""The listener hooks as typed calls that never raise.

A scheduler tells listener plugins what it did through :class:`Listeners`, one method per event
hook of :mod:`beatcore.hookspecs`, so a misspelt hook or a missing argument fails type checking
instead of at run time. Listeners run inside the tick, between claim and ack: an exception
escaping one would leave the batch unacked and its occurrences to be recovered a lock TTL later,
so a listener that raises is logged with its traceback and otherwise ignored.

Besides the process-wide plugins, a scheduler may have observers of its own
(:meth:`Listeners.observe`), such as its metrics: objects of an :class:`Observer` subclass,
told of the same events through the same typed methods, and only of this scheduler's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import pluggy
from celery.utils.log import get_logger

from beatcore import hookspecs
from beatcore.entry import Entry
from beatcore.errors import CorruptRecord, StoreUnavailable
from beatcore.plugins import Plugins
from beatcore.runs import SendOutcome, SendStatus, Skipped

logger = get_logger("beatcore.scheduler")


#: pluggy's own executor of hook calls: what a manager runs until hook-call monitoring or
#: tracing wraps it (read from a new manager; None if pluggy no longer has one there).
_PLUGGY_EXECUTOR = getattr(pluggy.PluginManager("beatcore"), "_inner_hookexec", None)
#: The arguments of ``beatcore_entry_dispatched``, in the hookspec's order.
_DISPATCHED_ARGS = ("entry", "occurrence", "task_id")


def _caller(plugins: Plugins, spec: Callable[..., object]) -> pluggy.HookCaller:
    """Return the hook caller of ``spec``, named by the hookspec itself (checked by mypy)."""
    caller: pluggy.HookCaller = getattr(plugins.hook, spec.__name__)
    return caller


class Observer:
    """One scheduler's own listener: override the events wanted; the others do nothing.

    Each method is called at the moment the :class:`Listeners` method of the same name says,
    in the scheduler's thread; one that raises is logged and ignored, like a plugin.
    """

    def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        """After the message of ``occurrence`` was written to the broker."""

    def dispatch_failed(
        self, entry: Entry, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        """After sending ``occurrence`` failed."""

    def occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        """Once per entry and tick, with every occurrence of ``entry`` the tick skipped."""

    def leadership_changed(self, is_leader: bool, holder: str, token: int | None) -> None:
        """After this scheduler gained (True) or lost (False) the lock."""

    def record_corrupt(self, error: CorruptRecord) -> None:
        """When the claim met a due record it cannot read."""

    def tick_finished(self, is_leader: bool, seconds: float, at: datetime) -> None:
        """After a tick reached its end, ``seconds`` long, at ``at``."""

    def store_unavailable(self, error: StoreUnavailable) -> None:
        """After a tick failed because a store round trip failed."""


class Listeners:
    """Calls the event hooks of every registered listener; one per scheduler.

    Each method is called by the scheduler at the moment its hook's docstring names, and
    returns None whatever the listeners do.
    """

    def __init__(self, plugins: Plugins) -> None:
        self._observers: tuple[Observer, ...] = ()
        self._manager = plugins.manager
        #: The listeners of entry_dispatched last seen, and their functions in calling order.
        self._plain: tuple[list[pluggy.HookImpl], tuple[Callable[..., object], ...]] = ([], ())
        self._dispatched = _caller(plugins, hookspecs.beatcore_entry_dispatched)
        self._failed = _caller(plugins, hookspecs.beatcore_dispatch_failed)
        self._skipped = _caller(plugins, hookspecs.beatcore_occurrences_skipped)
        self._skipped_one = _caller(plugins, hookspecs.beatcore_occurrence_skipped)
        self._leadership = _caller(plugins, hookspecs.beatcore_leadership_changed)
        self._corrupt = _caller(plugins, hookspecs.beatcore_record_corrupt)
        self._tick = _caller(plugins, hookspecs.beatcore_tick_finished)
        self._store_unavailable = _caller(plugins, hookspecs.beatcore_store_unavailable)

    def observe(self, observer: Observer) -> None:
        """Tell ``observer`` of this scheduler's events from now on (after the plugins)."""
        self._observers += (observer,)

    def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        """After the message of ``occurrence`` was written to the broker."""
        self.entries_dispatched([SendOutcome(entry, occurrence, task_id, SendStatus.SENT)])

    def entries_dispatched(self, sent: Sequence[SendOutcome]) -> None:
        """After one write carried the messages of ``sent`` (each sent):
        :meth:`entry_dispatched` for each, in order (its listeners, then its observers, one
        occurrence after the other). The listeners are looked up again for each message, as
        pluggy does for each call: a plugin registered or unregistered by a listener counts
        from the next message on."""
        # Called for every message: with no listener, skip pluggy's call (a few µs each); with
        # plain ones only, make the calls pluggy would make (a third of the cost of a send).
        hook = self._dispatched
        get_hookimpls, plain_functions = hook.get_hookimpls, self._plain_functions
        for entry, occurrence, task_id, _, _ in sent:
            impls = get_hookimpls()
            functions = plain_functions(impls) if impls else ()
            if functions is None:
                _call(hook, entry=entry, occurrence=occurrence, task_id=task_id)
            elif functions:
                try:
                    for function in functions:
                        function(entry, occurrence, task_id)
                except Exception:  # as in pluggy, the later listeners are not called then
                    logger.exception("beatcore: a listener of %s raised; ignored", hook.name)
            for observer in self._observers:
                _tell(observer.entry_dispatched, entry, occurrence, task_id)

    def _plain_functions(
        self, impls: list[pluggy.HookImpl]
    ) -> tuple[Callable[..., object], ...] | None:
        """The functions of ``impls`` (entry_dispatched's listeners) in the order pluggy calls
        them, when calling each with the hook's three arguments is exactly pluggy's call: no
        wrapper, each taking all three by position, and no monitoring or tracing of hook
        calls (then None: pluggy calls them)."""
        executor = getattr(self._manager, "_inner_hookexec", None)
        if _PLUGGY_EXECUTOR is None or executor is not _PLUGGY_EXECUTOR:
            return None
        known, functions = self._plain
        if impls == known:
            return functions
        for impl in impls:
            if impl.wrapper or impl.hookwrapper or impl.kwargnames:
                return None
            if tuple(impl.argnames) != _DISPATCHED_ARGS:
                return None
        functions = tuple(impl.function for impl in reversed(impls))
        self._plain = (impls, functions)
        return functions

    def dispatch_failed(
        self, entry: Entry, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        """After sending ``occurrence`` failed (it is retried later with the same task id)."""
        _call(self._failed, entry=entry, occurrence=occurrence, task_id=task_id, error=error)
        for observer in self._observers:
            _tell(observer.dispatch_failed, entry, occurrence, task_id, error)

    def occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        """Once per entry and tick, with every occurrence of ``entry`` the tick skipped.

        Listeners of the deprecated per-occurrence hook hear of the latest one only.
        """
        if not skipped:
            return
        _call(self._skipped, entry=entry, skipped=skipped)
        for observer in self._observers:
            _tell(observer.occurrences_skipped, entry, skipped)
        if self._skipped_one.get_hookimpls():
            latest = skipped[-1]
            _call(
                self._skipped_one, entry=entry, occurrence=latest.occurrence, reason=latest.reason
            )

    def leadership_changed(self, is_leader: bool, holder: str, token: int | None) -> None:
        """After this process gained (True) or lost (False) the lock."""
        _call(self._leadership, is_leader=is_leader, holder=holder, token=token)
        for observer in self._observers:
            _tell(observer.leadership_changed, is_leader, holder, token)

    def record_corrupt(self, error: CorruptRecord) -> None:
        """When the claim met a due record it cannot read (it is skipped, never deleted)."""
        _call(self._corrupt, error=error)
        for observer in self._observers:
            _tell(observer.record_corrupt, error)

    def tick_finished(self, is_leader: bool, seconds: float, at: datetime) -> None:
        """After a tick reached its end (not after one that raised)."""
        if self._tick.get_hookimpls():
            _call(self._tick, is_leader=is_leader, seconds=seconds, at=at)
        for observer in self._observers:
            _tell(observer.tick_finished, is_leader, seconds, at)

    def store_unavailable(self, error: StoreUnavailable) -> None:
        """After a tick failed because a store round trip failed (retried at the next)."""
        _call(self._store_unavailable, error=error)
        for observer in self._observers:
            _tell(observer.store_unavailable, error)


def _call(caller: pluggy.HookCaller, **kwargs: object) -> None:
    try:
        caller(**kwargs)
    except Exception:
        logger.exception("beatcore: a listener of %s raised; ignored", caller.name)


def _tell(method: Callable[..., None], *args: object) -> None:
    try:
        method(*args)
    except Exception:
        logger.exception("beatcore: observer %s raised; ignored", method.__qualname__)
