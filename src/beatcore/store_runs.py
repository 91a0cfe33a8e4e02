"""The optional methods of :class:`~beatcore.store.Store` about runs: the run history and
what workers report (``beatcore_track_runs``), with the defaults of a store that keeps none.
``Store`` inherits them; a store overrides what it keeps (docs/writing-stores.rst)."""

from __future__ import annotations

from collections.abc import Iterable

from beatcore.errors import EntryNotFound
from beatcore.run_values import RunOutcome, RunRecord
from beatcore.settings import DEFAULTS


class RunMethods:
    """The run history and worker reports of a store (part of :class:`~beatcore.store.Store`)."""

    # -- optional: run history ---------------------------------------------------------------

    #: Most run records kept per entry (``beatcore_history_size``); set by the scheduler
    #: once it opened the store. A store that keeps history trims to it in :meth:`ack`.
    history_size: int = DEFAULTS["beatcore_history_size"]

    def history(self, name: str, limit: int | None = None) -> list[RunRecord]:
        """Return the run history of ``name``, newest first, at most ``limit`` records.

        A store that keeps history writes each ``Ack.runs`` in the same round trip as
        the ack and keeps the last :attr:`history_size` per entry; a record it cannot read is
        left out. The default keeps none and returns ``[]`` (stores written before it), as
        does a store whose entries never ran.

        :raises EntryNotFound: no such entry (stores that keep history).
        """
        return []

    def last_runs(self, names: Iterable[str]) -> dict[str, RunRecord]:
        """Return the newest readable run record of each of ``names`` that has one.

        Called by ``celery beatcore list`` (its last-outcome column). This default reads
        :meth:`history` once per name (an entry that does not exist is left out); a store
        overrides it to read them all in one round trip.
        """
        found: dict[str, RunRecord] = {}
        for name in names:
            try:
                newest = self.history(name, 1)
            except EntryNotFound:
                continue
            if newest:
                found[name] = newest[0]
        return found

    # -- optional: what workers report (beatcore_track_runs) ---------------------------------

    #: True when the store keeps what workers report (:meth:`record_outcome`) and the
    #: running fact of each entry with an overlap policy (``Ack.running`` written by
    #: :meth:`ack`, returned as ``Claim.running`` by :meth:`claim_due`). The overlap policies
    #: ``skip`` and ``buffer_one`` need it; the contract cases of outcomes skip without it.
    records_outcomes: bool = False

    def record_outcome(self, outcome: RunOutcome) -> None:
        """Record what a worker reports of one run, in one store round trip.

        Called by the worker side (``beatcore.tracking``) when a task beat sent starts,
        and when it ends (succeeded, failed, retried). The rules are in
        :mod:`beatcore.outcomes` (:func:`~beatcore.outcomes.apply_outcome`): the run's record
        in the entry's history gains the worker's fields (kept as an early report until the
        ack writes the record, if the ack has not yet); the entry's running fact follows the
        run; the end of a run an occurrence is held for (``buffer_one``) makes the entry due
        at once, so the next tick sends it.

        Not fenced (a worker holds no lease). A report of an entry that does not exist, or of
        a run no longer in its history, changes no entry and raises nothing. The default
        keeps nothing (stores written before this method, or without :attr:`records_outcomes`).

        :raises StoreUnavailable: the store cannot be reached (the worker side logs it and
            goes on: a report never fails a task).
        """
