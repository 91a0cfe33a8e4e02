"""A listener plugin that records what a scheduler did, for tests of schedulers and plugins."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from beatcore.entry import Entry
from beatcore.hookspecs import hookimpl
from beatcore.plugins import get_plugins
from beatcore.runs import Skipped


class DispatchRecorder:
    """Records every dispatch, failed send, skip and leadership change (thread-safe).

    Register it with beatcore's plugin manager (or use :func:`recording`); it is a listener
    like any third-party one.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        #: ``(entry name, occurrence, task id)`` of each occurrence sent.
        self.sent: list[tuple[str, datetime, str]] = []
        #: ``(entry name, occurrence, "ErrorType: message")`` of each failed send.
        self.failed: list[tuple[str, datetime, str]] = []
        #: ``(entry name, occurrence, reason)`` of each occurrence skipped.
        self.skipped: list[tuple[str, datetime, str]] = []
        #: ``(is_leader, holder, token)`` of each leadership change.
        self.leadership: list[tuple[bool, str, int | None]] = []

    @hookimpl
    def beatcore_entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        with self._mutex:
            self.sent.append((entry.name, occurrence, task_id))

    @hookimpl
    def beatcore_dispatch_failed(
        self, entry: Entry, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        with self._mutex:
            self.failed.append((entry.name, occurrence, f"{type(error).__name__}: {error}"))

    @hookimpl
    def beatcore_occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        with self._mutex:
            self.skipped.extend((entry.name, s.occurrence, s.reason) for s in skipped)

    @hookimpl
    def beatcore_leadership_changed(self, is_leader: bool, holder: str, token: int | None) -> None:
        with self._mutex:
            self.leadership.append((is_leader, holder, token))

    def names(self) -> list[str]:
        """Return the entry name of each occurrence sent, in order."""
        return [name for name, _, _ in self.sent]

    def occurrences(self, name: str) -> list[datetime]:
        """Return the occurrences of entry ``name`` that were sent, in order."""
        return [occurrence for entry, occurrence, _ in self.sent if entry == name]


@contextmanager
def recording() -> Iterator[DispatchRecorder]:
    """Register a :class:`DispatchRecorder` with the process's plugin manager for the block."""
    recorder = DispatchRecorder()
    manager = get_plugins().manager
    manager.register(recorder)
    try:
        yield recorder
    finally:
        manager.unregister(recorder)
