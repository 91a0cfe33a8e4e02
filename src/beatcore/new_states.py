"""The state of new entries, computed once for the entries that share their timing.

A static sync of a fresh store (or a batch of new entries) gives each new entry the state
:func:`beatcore.timing.state_after_save` gives it: its first occurrence after ``now``. Entries
holding one schedule object of beatcore's own types (immutable, shared by
``beatcore.schedules.shared`` and by the reading of ``beat_schedule``) with the same
``tz``, ``start_at`` and ``end_at`` have the same first occurrence, so they get one state
(immutable too) computed once: 10,000 hourly entries are one computation, not 10,000.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from beatcore import timing
from beatcore.entry import Entry, EntryState
from beatcore.schedules.shared import is_shared


class NewStates:
    """The states of new entries at one ``now`` (one per shared timing, see the module).

    :param now: the instant the entries are saved at.
    :param default_tz: the zone of entries whose ``tz`` is None.
    """

    def __init__(self, now: datetime, default_tz: str | tzinfo | None) -> None:
        self.now = now
        self.default_tz = default_tz
        # (id of the schedule, tz, start_at, end_at) -> (the schedule, kept so its id stays
        # its own, and the state)
        self._states: dict[tuple[Any, ...], tuple[object, EntryState]] = {}
        self._last: tuple[object, tuple[Any, ...], EntryState] | None = None  # (asked first)

    def state(self, entry: Entry) -> EntryState:
        """Return ``timing.state_after_save(None, None, entry, now, default_tz)``.

        The first occurrence depends on the schedule, ``tz``, ``start_at`` and ``end_at``
        only (:func:`beatcore.timing.first_run_at`), not on the name, jitter or the rest.
        """
        schedule = entry.schedule
        key = (id(schedule), entry.tz, entry.start_at, entry.end_at)
        last = self._last
        if last is not None and last[0] is schedule and last[1] == key:
            return last[2]
        if not is_shared(schedule):  # a plugin's type need not be immutable
            return timing.state_after_save(None, None, entry, self.now, self.default_tz)
        found = self._states.get(key)
        if found is None or found[0] is not schedule:
            found = (
                schedule,
                timing.state_after_save(None, None, entry, self.now, self.default_tz),
            )
            self._states[key] = found
        self._last = (schedule, key, found[1])
        return found[1]
