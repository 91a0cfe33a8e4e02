"""What the scheduler tells its store at start, after the static sync.

What the sync changed goes to the change log (:func:`record_static_sync`). Then two things,
each a single store call: records that were taken out as unreadable are tried
again (the plugin of their schedule type may be installed now), and the scheduler's identity
and the schedule types it can read are recorded, so ``celery beatcore add``/``edit`` can warn
when an entry's type is one this beat lacks.
"""

from __future__ import annotations

import logging
from datetime import datetime

from beatcore.errors import BeatcoreError
from beatcore.operations import Operations, actor
from beatcore.plugins import Plugins
from beatcore.store import BeatInfo, Change, Store, SyncReport


def record_static_sync(store: Store, report: SyncReport, now: datetime) -> tuple[str, ...]:
    """Log what beat's static sync added, updated and removed (one write; ``by`` is
    ``beat@host``, ``via`` ``beat_schedule``); return a warning when the log could not be
    written. Called by the scheduler right after the sync; unchanged entries log nothing."""
    by = actor("beat")
    changes = [
        Change(name, action, now, by=by, via="beat_schedule")
        for action, names in (
            ("add", report.added), ("update", report.updated), ("delete", report.removed)
        )
        for name in names
    ]  # fmt: skip
    return Operations(store).record(changes)


def announce(
    store: Store, plugins: Plugins, holder: str, now: datetime, logger: logging.Logger
) -> list[str]:
    """Retry the unreadable records, record :class:`~beatcore.store.BeatInfo`; return the
    names revived.

    Called once by the scheduler at start. A store error here is logged, not raised: beat
    runs without either.
    """
    revived: list[str] = []
    try:
        revived = store.retry_unreadable(now)
    except BeatcoreError as exc:
        logger.error("beatcore: could not retry the unreadable entries: %s", exc)
    if revived:
        logger.warning(
            "beatcore: %d entr%s readable again and back in the schedule: %s",
            len(revived),
            "y is" if len(revived) == 1 else "ies are",
            ", ".join(repr(name) for name in revived),
        )
    try:
        store.record_beat(BeatInfo(holder, now, tuple(sorted(plugins.schedule_types()))))
    except BeatcoreError as exc:
        logger.error("beatcore: could not record this beat's schedule types: %s", exc)
    return revived
