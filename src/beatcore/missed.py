"""The occurrences an entry missed while no leader ticked, listed within a bound, counted exactly.

:func:`beatcore.timing.plan_runs` walks them when it plans a claimed entry. A 1-second entry
after three hours down has 10,800 of them; after a month, 2.6 million. The first
:data:`MAX_ENUMERATED_OCCURRENCES` are listed one by one (each may be logged, reported and
counted), then the rest are only counted, and the last few, the ones a catch-up policy may
still send, are listed again. A schedule whose occurrences are a fixed step apart (an
``Interval`` without ``relative``) is counted by arithmetic; any other is walked, up to
:data:`MAX_COUNTED_OCCURRENCES`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple, cast

import attrs

from beatcore.entry import Entry
from beatcore.runs import Skipped
from beatcore.schedules.interval import Interval

#: How many missed occurrences of one entry are listed one by one before they are only counted.
MAX_ENUMERATED_OCCURRENCES = 10_000
#: How many more a schedule without a fixed step is walked to count them (about two years of a
#: minutely crontab); past that, the walk stops and resumes from now, and the rest go uncounted.
MAX_COUNTED_OCCURRENCES = 1_000_000


class Missed(NamedTuple):
    """What :func:`missed_occurrences` found.

    :param due: the listed occurrences, oldest first: the first ones, then the last ``keep``.
    :param following: the first occurrence after ``now`` (None: there is none).
    :param omitted: how many occurrences lie between the first ones and the last ``keep``,
        counted but not listed (0 unless the walk went past the listing bound).
    :param gap_after: the listed occurrence the ``omitted`` ones follow (None when none are).
    """

    due: list[datetime]
    following: datetime | None
    omitted: int = 0
    gap_after: datetime | None = None


def missed_occurrences(
    entry: Entry,
    first: datetime,
    now: datetime,
    next_after: Callable[[datetime], datetime | None],
    *,
    keep: int,
) -> Missed:
    """Return the occurrences of ``entry`` from ``first`` (an occurrence) up to ``now``.

    ``next_after`` gives the occurrence after one (None: no more). Past the listing bound the
    occurrences up to ``now`` (or the entry's earlier ``end_at``) are counted, the last
    ``keep`` of them listed.
    """
    due: list[datetime] = []
    occ: datetime | None = first
    while occ is not None and occ <= now:
        if len(due) >= MAX_ENUMERATED_OCCURRENCES:
            schedule = entry.schedule
            # Occurrences of an interval without ``relative`` are a fixed step apart.
            fixed = isinstance(schedule, Interval) and not schedule.relative
            step = cast(Interval, schedule).every if fixed else None
            horizon = now if entry.end_at is None else min(now, entry.end_at)
            return _counted_rest(due, occ, now, next_after, horizon, step, keep)
        due.append(occ)
        occ = next_after(occ)
    return Missed(due, occ)


def with_omitted(skipped: list[Skipped], missed: Missed) -> list[Skipped]:
    """Let the skipped occurrence the unlisted ones follow stand for them too (``also``)."""
    for i, one in enumerate(skipped):
        if one.occurrence == missed.gap_after:
            skipped[i] = attrs.evolve(one, also=missed.omitted)
            break
    return skipped


def _counted_rest(
    listed: list[datetime],
    occ: datetime,
    now: datetime,
    next_after: Callable[[datetime], datetime | None],
    horizon: datetime,
    step: timedelta | None,
    keep: int,
) -> Missed:
    """Count the occurrences from ``occ`` through ``horizon``, listing the last ``keep``."""
    omitted = 0
    if step is not None and occ <= horizon:
        unlisted = (horizon - occ) // step + 1 - keep
        if unlisted > 0:
            omitted = unlisted
            occ = occ + unlisted * step
    tail: deque[datetime] = deque(maxlen=max(keep, 1))
    current: datetime | None = occ
    walked = 0
    while current is not None and current <= horizon and walked < MAX_COUNTED_OCCURRENCES:
        if len(tail) == tail.maxlen:
            omitted += 1  # pushed out of the tail: counted, not listed
        tail.append(current)
        current = next_after(current)
        walked += 1
    # A very long downtime resumes from now, so the next run is the first one after now.
    following = next_after(now)
    gap_after = listed[-1] if omitted else None
    return Missed(listed + list(tail), following, omitted, gap_after)
