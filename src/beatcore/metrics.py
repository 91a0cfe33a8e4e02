"""Prometheus metrics of one scheduler (the ``metrics`` extra: ``prometheus_client``).

:class:`SchedulerMetrics` is an :class:`~beatcore.listeners.Observer` of one scheduler: it
counts what the scheduler's events say into a registry of its own, so two schedulers in one
process (tests) never mix their figures. :mod:`beatcore.metrics_server` builds it from the
settings and serves the registry. Labels never grow with the number of entries, unless
``entry_labels`` asks for an ``entry`` label (then one series per entry and metric).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from celery.utils.log import get_logger
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from beatcore.entry import Entry
from beatcore.errors import BeatcoreError, CorruptRecord, StoreUnavailable
from beatcore.listeners import Observer
from beatcore.runs import Skipped
from beatcore.store import StoreStatus
from beatcore.timeutil import Clock

logger = get_logger("beatcore.metrics")

#: Seconds late a dispatch may be: from well under a tick to an hour (a catch-up).
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
#: Seconds a tick may take: an idle tick on a local store to a batch of thousands.
TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SchedulerMetrics(Observer):
    """The metrics of one scheduler, kept in :attr:`registry`.

    :param clock: the scheduler's clock (lateness is measured on it).
    :param entry_labels: give the per-occurrence metrics an ``entry`` label (one series per
        entry: only for schedules of a few entries).
    :param status: returns the store's status (one round trip); called at the end of a tick at
        most every ``count_interval`` seconds for the entry gauges. None: the gauges stay 0.
    :param monotonic: the clock ``count_interval`` is measured on.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        entry_labels: bool = False,
        status: Callable[[], StoreStatus] | None = None,
        count_interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.clock = clock
        self.entry_labels = entry_labels
        self._status = status
        self._count_interval = count_interval
        self._monotonic = monotonic
        self._counted_at: float | None = None
        per_entry = ("entry",) if entry_labels else ()
        reg = self.registry
        self.sent = Counter(
            "beatcore_occurrences_sent",
            "Occurrences whose message was written to the broker.",
            per_entry,
            registry=reg,
        )
        self.skipped = Counter(
            "beatcore_occurrences_skipped",
            "Occurrences not sent, by the rule that skipped them.",
            (*per_entry, "reason"),
            registry=reg,
        )
        self.send_failed = Counter(
            "beatcore_occurrences_send_failed",
            "Sends that failed (each is retried later with the same task id).",
            per_entry,
            registry=reg,
        )
        self.lateness = Histogram(
            "beatcore_dispatch_lateness_seconds",
            "Seconds between an occurrence's scheduled instant and its send.",
            per_entry,
            buckets=LATENESS_BUCKETS,
            registry=reg,
        )
        self.tick_duration = Histogram(
            "beatcore_tick_duration_seconds",
            "Seconds one tick took (claim, send, ack; or a standby's lock attempt).",
            buckets=TICK_BUCKETS,
            registry=reg,
        )
        self.store_errors = Counter(
            "beatcore_store_errors",
            "Ticks that failed because a store round trip failed.",
            registry=reg,
        )
        self.unreadable_found = Counter(
            "beatcore_unreadable_records_found",
            "Due records a claim could not read (set aside, never deleted).",
            registry=reg,
        )
        self.leader = Gauge(
            "beatcore_leader", "1 while this scheduler leads, else 0.", registry=reg
        )
        self.fencing_token = Gauge(
            "beatcore_fencing_token",
            "Fencing token of this scheduler's lease, 0 while it does not lead.",
            registry=reg,
        )
        self.entries = Gauge(
            "beatcore_entries", "Entries in the store (readable ones).", registry=reg
        )
        self.unreadable = Gauge(
            "beatcore_unreadable_entries", "Stored records that cannot be read.", registry=reg
        )
        self.last_tick = Gauge(
            "beatcore_last_tick_timestamp_seconds",
            "Unix time at which this scheduler's last tick ended.",
            registry=reg,
        )

    def _per_entry(self, entry: Entry) -> tuple[str, ...]:
        return (entry.name,) if self.entry_labels else ()

    def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        """Count the send and observe how late it was."""
        labels = self._per_entry(entry)
        late = max(0.0, (self.clock() - occurrence).total_seconds())
        if labels:
            self.sent.labels(*labels).inc()
            self.lateness.labels(*labels).observe(late)
        else:
            self.sent.inc()
            self.lateness.observe(late)

    def dispatch_failed(
        self, entry: Entry, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        """Count the failed send."""
        labels = self._per_entry(entry)
        (self.send_failed.labels(*labels) if labels else self.send_failed).inc()

    def occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        """Count the skipped occurrences by their kind (a bounded set of reasons); one that
        stands for ``also`` more (a very long downtime) counts for all of them."""
        labels = self._per_entry(entry)
        kinds: dict[str, int] = {}
        for one in skipped:
            kinds[one.kind] = kinds.get(one.kind, 0) + 1 + one.also
        for kind, count in kinds.items():
            self.skipped.labels(*labels, kind).inc(count)

    def leadership_changed(self, is_leader: bool, holder: str, token: int | None) -> None:
        """Set the leader and fencing-token gauges."""
        self.leader.set(1 if is_leader else 0)
        self.fencing_token.set(token if is_leader and token is not None else 0)

    def record_corrupt(self, error: CorruptRecord) -> None:
        """Count a due record the claim could not read."""
        self.unreadable_found.inc()

    def store_unavailable(self, error: StoreUnavailable) -> None:
        """Count the failed round trip."""
        self.store_errors.inc()

    def tick_finished(self, is_leader: bool, seconds: float, at: datetime) -> None:
        """Observe the tick's duration and end; refresh the entry gauges when they are due."""
        self.tick_duration.observe(max(0.0, seconds))
        self.last_tick.set(at.timestamp())
        if self._status is None:
            return
        now = self._monotonic()
        if self._counted_at is not None and now - self._counted_at < self._count_interval:
            return
        self._counted_at = now
        try:
            status = self._status()
        except BeatcoreError as exc:
            logger.debug("beatcore: entry gauges not refreshed: %s", exc)
            return
        self.entries.set(status.entry_count)
        self.unreadable.set(status.corrupt_count)
