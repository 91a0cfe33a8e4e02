"""The health panel, ``/healthz`` and ``/metrics``: the store's snapshot and its verdict.

The panel's verdict is ``celery beatcore status``'s own (:func:`beatcore.cli.health.health`).
``/healthz`` asks only the lock, waiting at most :attr:`HealthCheck.wait` seconds, so it
answers fast however large the schedule or slow the store. ``/metrics`` reads a snapshot at
most :attr:`HealthCheck.fresh` seconds old, taken in a thread; a snapshot older than the lock
TTL counts as no answer.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from beatcore.cli.describe import format_instant, relative
from beatcore.cli.health import Verdict, health, in_flight_json, unreadable_json, within
from beatcore.store import Store, StoreStatus
from beatcore.timeutil import UTC, Clock, isoformat
from beatcore.urls import mask_password


class HealthCheck:
    """The latest snapshot of one store, shared by the requests of the dashboard.

    :param store: the store.
    :param clock: the current instant.
    :param lock_ttl: ``beatcore_lock_ttl``: a leader that ticked longer ago is gone.
    :param wait: seconds a probe waits for a new snapshot.
    :param fresh: seconds a snapshot is reused for.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        lock_ttl: float,
        *,
        wait: float = 0.08,
        fresh: float = 1.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.lock_ttl = lock_ttl
        self.wait = wait
        self.fresh = fresh
        self._mutex = threading.Lock()
        self._taken: tuple[datetime, StoreStatus] | None = None
        self._reader: threading.Thread | None = None

    def _refresh(self) -> None:
        try:
            status = self.store.status()
        except Exception:  # the probe says "no answer"; the panel shows the store's error
            return
        with self._mutex:
            self._taken = (self.clock(), status)

    def start(self) -> threading.Thread:
        """Start reading a new snapshot unless a read is under way; return the reader.

        Called by :meth:`snapshot` when the last one is stale.
        """
        with self._mutex:
            reader = self._reader
            if reader is None or not reader.is_alive():
                reader = threading.Thread(
                    target=self._refresh, name="beatcore-web-health", daemon=True
                )
                self._reader = reader
                reader.start()
            return reader

    def snapshot(self) -> StoreStatus | None:
        """Return a recent snapshot, or None when the store has not answered lately."""
        now = self.clock()
        with self._mutex:
            taken = self._taken
        if taken is not None and (now - taken[0]).total_seconds() < self.fresh:
            return taken[1]
        self.start().join(self.wait)
        with self._mutex:
            taken = self._taken
        if taken is None or (self.clock() - taken[0]).total_seconds() > self.lock_ttl:
            return None
        return taken[1]

    def probe(self) -> tuple[bool, dict[str, Any]]:
        """Return whether a leader ticked within the lock TTL, and the probe's JSON body.

        A leader renews its lease at every tick (the claim renews it), so a valid lease is a
        tick within the TTL: the probe asks the lock (one small read on every store, never
        the whole schedule), waiting at most :attr:`wait` seconds.
        """
        try:
            leader = within(self.wait, "(the lock)", self.store.lock.current)
        except Exception:  # any failure of the store, a timeout included, is "not healthy"
            return False, {"healthy": False, "reason": "the store did not answer (in time)"}
        if leader is None:
            return False, {
                "healthy": False,
                "reason": f"no leader holds the lock: none ticked within the lock TTL "
                f"({self.lock_ttl:g} s)",
            }
        return True, {
            "healthy": True,
            "reason": "a leader holds the lock (it ticked within the lock TTL)",
            "fencing_token": leader.token,
            "expires_at": isoformat(leader.expires_at),
        }


def _leader(status: StoreStatus, now: datetime) -> dict[str, Any] | None:
    leader = status.leader
    if leader is None:
        return None
    parts = leader.holder.split(":", 2)
    host, pid, started = parts if len(parts) == 3 else (leader.holder, None, None)
    return {
        "holder": leader.holder,
        "host": host,
        "pid": int(pid) if pid and pid.isdigit() else None,
        "started": started,
        "token": leader.token,
        "acquired_at": isoformat(leader.acquired_at),
        "since_text": (
            f"{format_instant(leader.acquired_at, UTC)} ({relative(leader.acquired_at, now)})"
            if leader.acquired_at
            else "-"
        ),
        "expires_at": isoformat(leader.expires_at),
    }


def panel(store: Store, now: datetime, lock_ttl: float, overdue_after: float) -> dict[str, Any]:
    """Return the health panel (and ``/api/health``): leader, token, last tick and its age,
    unreadable and overdue entries, in-flight runs, the masked store URL and the verdict."""
    status = store.status()
    unreadable = store.unreadable_records()
    verdict: Verdict = health(
        status, now, lock_ttl, overdue_after=overdue_after, unreadable=unreadable
    )
    age = None if status.last_tick_at is None else (now - status.last_tick_at).total_seconds()
    return {
        "url": mask_password(status.url),
        "healthy": verdict.healthy,
        "reasons": list(verdict.reasons),
        "leader": _leader(status, now),
        "fencing_token": status.leader.token if status.leader else None,
        "last_tick_at": isoformat(status.last_tick_at),
        "last_tick_age_seconds": age,
        "last_tick_text": (
            f"{format_instant(status.last_tick_at, UTC)} ({relative(status.last_tick_at, now)})"
            if status.last_tick_at
            else "never"
        ),
        "entry_count": status.entry_count,
        "unreadable_count": max(status.corrupt_count, len(unreadable)),
        "unreadable": [unreadable_json(error) for error in unreadable],
        "next_due_at": isoformat(status.next_due_at),
        "overdue_after": overdue_after,
        "overdue_by": verdict.overdue_by,
        "in_flight": [
            {**in_flight_json(f), "claimed_text": relative(f.claimed_at, now)}
            for f in status.in_flight
        ],
    }


def metrics_text(status: StoreStatus | None) -> tuple[bytes, str]:
    """Return the store-level figures in Prometheus's text format, and its content type.

    Labels never name an entry, so the series do not grow with the schedule.
    """
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float | None) -> None:
        if value is not None:
            Gauge(name, doc, registry=registry).set(value)

    gauge(
        "beatcore_store_up",
        "1 when the store answered the dashboard lately, else 0.",
        0 if status is None else 1,
    )
    if status is not None:
        gauge("beatcore_store_entries", "Entries in the store.", status.entry_count)
        gauge(
            "beatcore_store_unreadable_entries",
            "Stored records that cannot be read.",
            status.corrupt_count,
        )
        gauge("beatcore_store_in_flight", "Claimed runs not acked yet.", len(status.in_flight))
        gauge(
            "beatcore_store_leader",
            "1 while a leader holds the lock, else 0.",
            1 if status.leader else 0,
        )
        gauge(
            "beatcore_store_fencing_token",
            "The current leader's fencing token.",
            status.leader.token if status.leader else None,
        )
        gauge(
            "beatcore_store_last_tick_timestamp_seconds",
            "When a leader last ticked.",
            status.last_tick_at.timestamp() if status.last_tick_at else None,
        )
        gauge(
            "beatcore_store_next_due_timestamp_seconds",
            "The earliest due run.",
            status.next_due_at.timestamp() if status.next_due_at else None,
        )
    return generate_latest(registry), CONTENT_TYPE_LATEST
