"""The interfaces a storage backend implements: :class:`Store` and :class:`Lock`.

A backend author reads this one module and knows the contract; the contract test suite in
:mod:`beatcore.testing` checks it. :mod:`beatcore.stores.memory` is the reference
implementation. All datetimes given to and returned by a store are aware and in UTC.

How the scheduler uses a store, per tick::

    lease = store.lock.acquire(holder, ttl)          # standby: until it returns a Lease
    result = store.claim_due(lease, now, limit=...)  # one round trip; renews the lease
    ... send each claimed occurrence ...
    store.ack(lease, acks)                           # one round trip (or ack_stream)

A claimed entry leaves the due index until it is acked. If the leader dies in between, the
claim stays recorded ("in flight"); a later ``claim_due`` made more than ``reclaim_after``
seconds after it returns the entry again (``Claim.recovered``) with its unchanged state, so the
next leader re-sends the same occurrence with the same task id.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TypeVar

from beatcore.batch import ENTRY_ERRORS, SaveManyReport, unique_batch
from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.settings import DEFAULTS
from beatcore.store_paging import page_of_all
from beatcore.store_runs import RunMethods
from beatcore.store_values import (
    Ack,
    BeatInfo,
    Change,
    Claim,
    ClaimResult,
    InFlight,
    Lease,
    LockInfo,
    Running,
    RunOutcome,
    RunRecord,
    StoreStatus,
    SyncReport,
)

__all__ = [
    "Ack",
    "BeatInfo",
    "Change",
    "Claim",
    "ClaimResult",
    "InFlight",
    "Lease",
    "Lock",
    "LockInfo",
    "RunOutcome",
    "RunRecord",
    "Running",
    "SaveManyReport",
    "Store",
    "StoreStatus",
    "SyncReport",
]

_S = TypeVar("_S", bound="Store")


class Lock(abc.ABC):
    """The leadership lock of one schedule, with fencing tokens.

    Only one lease is valid at a time. A lease lapses ``ttl`` seconds after its last acquire or
    renew; every acquisition issues a strictly larger token, so a lapsed holder can be told
    apart from the current one by every fenced store call.
    """

    @abc.abstractmethod
    def acquire(self, holder: str, ttl: float) -> Lease | None:
        """Try once, without blocking, to take the lock for ``ttl`` seconds.

        Called by a standby scheduler on every tick. Acquiring again while holding a still
        valid lease gives a new token too (the old lease is then stale).

        :return: the new lease, or None when another holder's lease is still valid.
        """

    @abc.abstractmethod
    def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl from now.

        :return: the lease (same token).
        :raises LockLost: the lease lapsed and another holder acquired the lock since.
        """

    @abc.abstractmethod
    def release(self, lease: Lease) -> None:
        """Give the lock up, if ``lease`` is still the current one; otherwise do nothing.

        Called on clean shutdown so a standby takes over at its next tick.
        """

    @abc.abstractmethod
    def current(self) -> LockInfo | None:
        """Return who holds a still valid lease, or None."""


class Store(RunMethods, abc.ABC):
    """Where one schedule lives: entry definitions, their states, the due index and the lock.

    Management calls (``save``, ``delete``, ``set_enabled``, ``trigger``) may come from any
    process at any time; a running scheduler sees them at its next tick, or at once when the
    store pushes changes (:attr:`pushes_changes`).
    """

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The store's URL with any password masked, for logs and status output."""

    @property
    @abc.abstractmethod
    def lock(self) -> Lock:
        """The leadership lock of this schedule."""

    # -- definitions ---------------------------------------------------------------------

    @abc.abstractmethod
    def save(self, entry: Entry) -> EntryState:
        """Insert ``entry`` or replace the definition with the same name.

        A new entry gets its first occurrence (:func:`beatcore.timing.first_run_at`). An update
        keeps the state, unless :func:`beatcore.timing.timing_changed` says the schedule (or
        tz, start, end, max_runs, re-enabling) changed, in which case ``next_run_at`` is
        recomputed from now; counters and last run are kept either way.

        :return: the entry's state after the save.
        """

    def save_many(self, entries: Iterable[Entry]) -> SaveManyReport:
        """Save each of ``entries`` as :meth:`save` does; called by ``celery beatcore import``
        and the migrations, where one round trip per entry would be the cost of the batch.

        Not all-or-nothing: each entry is saved on its own. An entry refused for its own
        fault (:data:`~beatcore.batch.ENTRY_ERRORS`, or an item that is not an
        :class:`~beatcore.entry.Entry`) is named in the report's ``refused`` and the others
        are saved all the same. A name given twice is saved once, as given last. A store
        error (``StoreUnavailable``, ...) is raised; entries written before it stay written,
        and calling again with the same batch is safe (an equal definition is not written
        again); see docs/writing-stores.rst.

        This default calls :meth:`save` per entry; a store overrides it to write in batches.

        :return: the state of each entry saved and the reason of each refused.
        """
        batch, refused = unique_batch(entries)
        states: dict[str, EntryState] = {}
        for entry in batch:
            try:
                states[entry.name] = self.save(entry)
            except ENTRY_ERRORS as exc:
                refused[entry.name] = str(exc)
        return SaveManyReport(states, refused)

    @abc.abstractmethod
    def get(self, name: str) -> Entry:
        """Return the definition called ``name``.

        :raises EntryNotFound: no such entry.
        :raises CorruptRecord: the stored record cannot be read.
        """

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove the entry, its state and any claim of it.

        :raises EntryNotFound: no such entry.
        """

    @abc.abstractmethod
    def entries(self) -> list[Entry]:
        """Return every readable entry, sorted by name; unreadable ones are left out.

        Meant for management and status, never called by the scheduler's tick.
        """

    @abc.abstractmethod
    def corrupt_records(self) -> list[CorruptRecord]:
        """Return an error for each stored record that cannot be read (nothing is deleted).

        Where the store recorded when a claim or ack took the record out of the due index,
        the error's ``since`` says when.
        """

    @abc.abstractmethod
    def state(self, name: str) -> EntryState:
        """Return the runtime state of ``name``.

        :raises EntryNotFound: no such entry.
        """

    @abc.abstractmethod
    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable an entry, keeping its state.

        Re-enabling computes the next occurrence from now: runs missed while disabled are not
        caught up.

        :raises EntryNotFound: no such entry.
        """

    @abc.abstractmethod
    def trigger(self, name: str, at: datetime | None = None) -> None:
        """Make the entry due once more at ``at`` (default now), besides its schedule.

        The run happens at the first tick at or after ``at``, also for a disabled entry; the
        regular next occurrence is unchanged.

        :raises EntryNotFound: no such entry.
        """

    @abc.abstractmethod
    def sync_static(self, entries: Iterable[Entry], keep: Iterable[str] = ()) -> SyncReport:
        """Make the static entries of the store equal to ``entries``, in one batched operation.

        Called once by the scheduler at startup with the entries of ``beat_schedule`` (all with
        ``static=True``). New ones are added, changed ones updated like :meth:`save` (state
        kept), static entries not in ``entries`` removed; dynamic entries are never touched,
        except that a dynamic entry with the name of a static one is replaced by it. Names in
        ``keep`` (static entries whose configuration could not be read this time) are left
        as they are, so a typo in ``beat_schedule`` never deletes an entry's history.
        """

    # -- scheduling ----------------------------------------------------------------------

    @abc.abstractmethod
    def claim_due(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> ClaimResult:
        """Atomically renew ``lease`` and take up to ``limit`` entries due at ``now``.

        Due means the entry's due instant (next occurrence plus jitter, or a pending trigger)
        is at or before ``now``. Claimed entries leave the due index and are recorded as in
        flight under the lease's token; entries claimed more than ``reclaim_after`` seconds ago
        and never acked are claimed again (``recovered=True``). Also records ``now`` as the
        time of the last tick. One store round trip however many entries are due.

        :raises LockLost: the lease is not the current one (nothing was claimed).
        """

    @abc.abstractmethod
    def ack(self, lease: Lease, acks: Sequence[Ack]) -> None:
        """Record the outcome of claimed entries and put them back in the due index, in one
        round trip for the whole batch in the common case (see :class:`Ack` for how a change
        made while an entry was in flight is merged).

        :raises LockLost: the lease is not the current one (nothing was written).
        """

    def claim_due_ahead(
        self, lease: Lease, now: datetime, *, limit: int, reclaim_after: float
    ) -> Callable[[], ClaimResult]:
        """Return a function claiming as :meth:`claim_due` does with these arguments, called
        once (its errors raised then): the scheduler asks for the next page's claim before it
        sends the current one, and calls it after that page's ack. A store may send the claim
        at once and read its reply in the call; this default claims in the call."""
        return lambda: self.claim_due(lease, now, limit=limit, reclaim_after=reclaim_after)

    def ack_stream(self, lease: Lease, acks: Iterable[Ack], count: int) -> None:
        """Record the ``count`` acks ``acks`` yields while the scheduler still sends, as
        :meth:`ack` does; a store may write them in parts meanwhile (docs/writing-stores.rst:
        what holds if ``acks`` raises). The default collects them and calls :meth:`ack`."""
        collected: list[Ack] = []
        try:
            collected.extend(acks)
        except Exception:
            if collected:  # their messages went out: written before the error propagates
                self.ack(lease, collected)
            raise
        self.ack(lease, collected)

    @abc.abstractmethod
    def in_flight(self) -> list[InFlight]:
        """Return the claims not acked yet, oldest first."""

    @abc.abstractmethod
    def status(self) -> StoreStatus:
        """Return a snapshot of leader, last tick, counts and next due instant."""

    # -- optional: changes pushed to a sleeping leader ---------------------------------

    #: True when :meth:`wait_for_change` returns as soon as another process changes the
    #: schedule (PostgreSQL ``NOTIFY``; Redis pub/sub could do the same). The scheduler then
    #: waits through the store between ticks instead of letting beat sleep, so a save,
    #: delete, enable or trigger reaches a sleeping leader at once, not at its next tick.
    pushes_changes: bool = False

    def wait_for_change(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; return True early when the schedule may have changed.

        Called by the scheduler between ticks, only when :attr:`pushes_changes` is True. A
        store that cannot push changes keeps this default, which sleeps the whole timeout and
        returns False. A True may be spurious (the next tick then finds nothing new); a lost
        connection must not raise: sleep out the timeout and return False.
        """
        time.sleep(max(0.0, timeout))
        return False

    # -- optional: what beat asks at start ---------------------------------------------

    def unreadable_records(self) -> list[CorruptRecord]:
        """Return the records a claim or ack took out of the due index as unreadable.

        As the store noted them: the name, why (the error of the process that claimed it) and
        ``since`` when, sorted by name. A process with other plugins may read such a record
        well (the scheduler lacked a schedule type the caller has); it stays out until
        :meth:`retry_unreadable` or a save of the entry. Called by ``status`` and ``list``.
        The default is :meth:`corrupt_records`, for stores written before this method.
        """
        return self.corrupt_records()

    def retry_unreadable(self, now: datetime) -> list[str]:
        """Put back every record taken out of the due index as unreadable that reads now.

        Called by the scheduler at start, once its plugins are loaded (so installing the
        plugin of a missing schedule type revives its entries), and by ``celery beatcore
        retry-unreadable``. A revived entry is due at its stored due time (at once if that
        passed); records still unreadable stay as they are. The default does nothing, for
        stores written before this method existed.

        :return: the names put back, sorted.
        """
        return []

    def record_beat(self, info: BeatInfo) -> None:
        """Keep ``info`` (replacing the last one) for :meth:`beat_info`.

        Called by the scheduler at start. The default keeps nothing.
        """

    def beat_info(self) -> BeatInfo | None:
        """Return what the last scheduler to start recorded, or None (none, or not kept)."""
        return None

    # -- optional: listing a page at a time ----------------------------------------------

    def entries_page(
        self, after: str | None = None, limit: int = 100, *, descending: bool = False
    ) -> list[tuple[Entry, EntryState] | CorruptRecord]:
        """Return up to ``limit`` stored records in name order, starting after the name ``after``.

        Called by the web dashboard, page by page, so a listing of a large schedule holds
        one page in memory; ``after`` is the last name of the previous page (None: from the
        start), ``descending`` walks from the last name down. Each item is a readable entry
        with its state, or the error of a record that cannot be read (one that beat took
        out of the due index as unreadable, as :meth:`unreadable_records` notes it, or one
        this process cannot read). A page holds exactly ``limit`` items unless the schedule
        ends within it (callers take a shorter page for the last). This default reads the
        whole schedule and keeps the page, so a walk page by page (``celery beatcore list``,
        ``export``) costs N²/limit decodes: a store overrides it to read only the page.
        """
        return page_of_all(self, after, limit, descending)

    # -- optional: the change log (the run history: RunMethods) ---------------------------

    #: Most changes kept per entry name (``beatcore_change_log_size``), set by who opens it.
    change_log_size: int = DEFAULTS["beatcore_change_log_size"]

    def record_changes(self, changes: Sequence[Change]) -> None:
        """Append ``changes`` (oldest first) to the change log in one round trip, keeping the
        newest :attr:`change_log_size` of each name; a delete keeps the log. Called by
        :mod:`beatcore.operations` after each change, and by beat after its static sync."""

    def changes(self, name: str | None = None, limit: int | None = None) -> list[Change]:
        """Return the change log of ``name`` (also of a deleted entry) or, without, the
        schedule's newest (at least the last :attr:`change_log_size`), newest first, at most
        ``limit``; an unreadable record is left out. The defaults keep none (``[]``)."""
        return []

    def close(self) -> None:
        """Release connections. Called when the scheduler or a management client is done."""

    def __enter__(self: _S) -> _S:
        """Return the store itself: ``with beatcore.connect(app) as store:``."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store (:meth:`close`) when the ``with`` block ends, also on an error."""
        self.close()
