"""A clock for tests: time moves only when the test says so."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from beatcore.timeutil import UTC, require_aware


class FakeClock:
    """A callable returning a settable aware UTC instant (inject it wherever a Clock goes)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = require_aware(start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC), "start")
        self._mutex = threading.Lock()

    def __call__(self) -> datetime:
        with self._mutex:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward and return the new instant."""
        with self._mutex:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (aware)."""
        with self._mutex:
            self._now = require_aware(when, "clock time")
