"""What a migration from another scheduler yields for each of its records.

The migration verbs (``migrate-from-redbeat``, ``migrate-from-django-celery-beat``) read the
other scheduler's records with a format module of their store package, which turns each into
a :class:`Migrated` or raises :class:`NotConvertible`; the verb saves the entries and carries
the run history over (:mod:`beatcore.cli.history`).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from beatcore.entry import Entry


class NotConvertible(Exception):
    """A record of the other scheduler that has no beatcore equivalent; the message says why."""


@attrs.frozen
class Migrated:
    """One record of the other scheduler as beatcore sees it: the definition, its run history
    there (last run, run count) and notes for the person migrating (what was approximated)."""

    entry: Entry
    last_run_at: datetime | None
    total_run_count: int
    notes: tuple[str, ...] = ()
