"""``beatcore.Scheduler``: the class given to ``celery beat -S beatcore.Scheduler``.

Each tick: a standby tries once to take the lock; the leader claims what is due (one store
round trip that also renews its lease), sends each occurrence with its deterministic task id
through one producer, and acks the batch (one more round trip, streamed while it sends). A
full page has the next one claimed while it is sent, up to :data:`PAGES_PER_TICK` a tick.
The tick returns how long beat may sleep: never past the next due instant, the lease
renewal or ``beat_max_loop_interval``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, suppress
from datetime import datetime
from typing import Any

from celery import beat
from celery.utils.log import get_logger

from beatcore import timing
from beatcore.dispatch import ClaimDispatcher
from beatcore.errors import ConfigurationError, LockLost, StoreUnavailable
from beatcore.gc_pause import cyclic_gc_paused
from beatcore.listeners import Listeners
from beatcore.metrics_server import MetricsServer, serve_metrics
from beatcore.overlap import RunLimits, trackable
from beatcore.plugins import get_plugins
from beatcore.publisher import Publisher
from beatcore.send_window import SendWindow
from beatcore.settings import DEFAULTS, Settings, load_clock
from beatcore.signals import shutdown_deferred
from beatcore.startup import announce, record_static_sync
from beatcore.static import static_entries
from beatcore.store import Ack, ClaimResult, Lease, Store, StoreStatus
from beatcore.timeutil import Clock, utc_now
from beatcore.urls import mask_password

logger = get_logger("beatcore.scheduler")


def default_holder() -> str:
    """Return ``host:pid:start-time``, the identity this process shows in the lock."""
    started = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{socket.gethostname()}:{os.getpid()}:{started}"


#: Pages one tick claims and sends at most while each comes back full, the next page's claim
#: sent before the current page is (claim_due_ahead). A graceful stop waits for the tick.
PAGES_PER_TICK = 4


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    """The earlier of two instants (None: not known)."""
    return min((at for at in (first, second) if at is not None), default=None)


def _kept(acks: Iterable[Ack], into: list[Ack]) -> Iterator[Ack]:
    """Yield ``acks``, each also appended to ``into`` (the tick reads their due instants)."""
    for ack in acks:
        into.append(ack)
        yield ack


class Scheduler(beat.Scheduler):  # type: ignore[misc]
    """A Celery beat scheduler whose schedule lives in a beatcore store.

    :param app: the Celery app; settings are read from ``app.conf.beatcore_*``.
    :param schedule_filename: beat's ``--schedule``; names the default SQLite file.
    :param clock: returns the current aware UTC instant (tests inject a fake one).
    :param store: an open store to use instead of the one ``beatcore_url`` names.
    :param holder: the identity written into the lock (default ``host:pid:start``).
    :param monotonic: seconds on a clock that never jumps (default :func:`time.monotonic`);
        bounds how long after a claim this process may still send (tests inject a fake one).
    """

    max_interval = DEFAULTS["beat_max_loop_interval"]

    def __init__(
        self,
        app: Any,
        *args: Any,
        schedule_filename: str | None = None,
        clock: Clock | None = None,
        store: Store | None = None,
        holder: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        self.settings = Settings.from_app(app, schedule_filename)
        self.clock: Clock = clock or load_clock(self.settings.clock)
        self.holder = holder or default_holder()
        self.monotonic = monotonic
        self.plugins = get_plugins()
        self.plugins.load_modules(self.settings.plugins)
        self.catch_up = timing.CatchUpSettings(
            missed_threshold=self.settings.missed_threshold,
            catch_up_limit=self.settings.catch_up_limit,
        )
        self._store = store
        self.lease: Lease | None = None
        self._outage_logged = False
        self.listeners = Listeners(self.plugins)
        self.metrics_server: MetricsServer | None = None
        self.publisher = Publisher(app, self)
        self.dispatcher = ClaimDispatcher(
            self.settings,
            self.catch_up,
            self.publisher,
            self.listeners,
            self.clock,
            RunLimits(app, self.settings.overlap_timeout),
        )
        kwargs.setdefault("max_interval", self.settings.max_interval)
        super().__init__(app, *args, **kwargs)

    # -- store and startup ---------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store, opened on first use from ``beatcore_url``."""
        if self._store is None:
            options = self.settings.store_open_options(self.clock)
            self._store = self.plugins.store_from_url(self.settings.url, options)
            self._store.history_size = self.settings.history_size
            self._store.change_log_size = self.settings.change_log_size
        return self._store

    def setup_schedule(self) -> None:
        """Sync ``beat_schedule`` into the store as static entries (one batched call), then
        retry the unreadable entries and record this beat (:func:`beatcore.startup.announce`).
        Serves the metrics when ``beatcore_metrics_port`` is set.

        Called once by Celery when the scheduler is created. A store that cannot be opened
        as configured (bad URL, a missing extra) ends beat with one CRITICAL line and exit
        status 1, not a traceback: nothing in it is beatcore's bug.
        """
        try:
            self.store  # noqa: B018 - opened here so a bad configuration stops the start
            if self.metrics_server is None:
                self.metrics_server = serve_metrics(
                    self.settings, self.listeners, self.clock, self._status, self.monotonic
                )
        except ConfigurationError as exc:
            logger.critical("beatcore: beat cannot start: %s", exc)
            raise SystemExit(1) from None
        schedule = dict(self.app.conf.beat_schedule or {})
        self._add_backend_cleanup(schedule)
        # the sync keeps what it builds alive to its end, as a tick does (cyclic_gc_paused)
        with cyclic_gc_paused():
            parsed = static_entries(schedule, self.plugins)
            entries, refused = trackable(parsed.entries, self.settings.track_runs, self.store)
            errors = {**parsed.errors, **refused}
            for name, error in errors.items():
                logger.error("beatcore: beat_schedule entry %r skipped: %s", name, error)
            report = self.store.sync_static(entries, keep=errors)
            for warning in record_static_sync(self.store, report, self.clock()):
                logger.warning("beatcore: %s", warning)
        logger.info(
            "beatcore: static entries synced to %s: %d added, %d updated, %d removed, %d unchanged",
            self.store.url,
            len(report.added),
            len(report.updated),
            len(report.removed),
            len(report.unchanged),
        )
        announce(self.store, self.plugins, self.holder, self.clock(), logger)

    def _status(self) -> StoreStatus:
        return self.store.status()

    def _add_backend_cleanup(self, schedule: dict[str, Any]) -> None:
        """Add Celery's ``celery.backend_cleanup`` entry where Celery itself would.

        Celery adds it for any result backend that does not expire results by itself; with no
        result backend configured there is nothing to clean up, so it is left out.
        """
        conf = self.app.conf
        if conf.result_backend and conf.result_expires and not self.app.backend.supports_autoexpire:
            from celery.schedules import crontab

            schedule.setdefault(
                "celery.backend_cleanup",
                {
                    "task": "celery.backend_cleanup",
                    "schedule": crontab("0", "4", "*"),
                    "options": {"expires": 12 * 3600},
                },
            )

    # -- the tick ------------------------------------------------------------------------

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Run one scheduling pass and return how many seconds beat may sleep.

        Called in a loop by celery beat (or any other driver). Never blocks on the lock.
        A graceful stop (SIGTERM, Ctrl-C) that arrives meanwhile takes effect when it returns.
        """
        started = self.monotonic()
        try:
            with shutdown_deferred(), cyclic_gc_paused():
                interval = self._tick()
        except LockLost as exc:
            self._step_down(str(exc))
            return self._standby_interval()
        except StoreUnavailable as exc:
            self.listeners.store_unavailable(exc)
            if self._outage_logged:
                logger.debug("beatcore: store still unavailable: %s", exc)
            else:
                self._outage_logged = True
                logger.error(
                    "beatcore: %s; nothing is sent until it answers, ticks retry every %ss "
                    "(logged once per outage)",
                    exc,
                    self.max_interval,
                )
            return float(self.max_interval)
        except Exception:
            logger.exception("beatcore: tick failed; retrying in %ss", self.max_interval)
            return float(self.max_interval)
        self.listeners.tick_finished(self.is_leader, self.monotonic() - started, self.clock())
        if self._outage_logged:
            self._outage_logged = False
            logger.warning("beatcore: store %s answers again; ticking resumed", self.store.url)
        return self._wait_for_change(interval)

    def _wait_for_change(self, interval: float) -> float:
        """Wait ``interval`` seconds through a store that pushes changes, then return 0.

        celery beat would sleep the interval and see a change made meanwhile only at the next
        tick; a store that pushes changes (``Store.pushes_changes``) wakes this wait instead,
        so the next tick runs at once. Outside ``shutdown_deferred``: a graceful stop during
        the wait takes effect at once. Any other store: the interval, for beat to sleep.
        """
        store = self._store
        if store is None or not store.pushes_changes or interval <= 0:
            return interval
        store.wait_for_change(interval)
        return 0.0

    def _tick(self) -> float:
        lease = self.lease or self._try_lead()
        if lease is None:
            return self._standby_interval()
        limit = self.settings.batch_size
        reclaim_after = self.settings.effective_reclaim_after
        now, started = self.clock(), self.monotonic()
        first = now  # an ahead claim reclaims only what was in flight before this tick began
        result = self.store.claim_due(lease, now, limit=limit, reclaim_after=reclaim_after)
        next_due: datetime | None = None
        for page in range(1, PAGES_PER_TICK + 1):
            full = len(result.claims) + len(result.corrupt) >= limit
            ahead = None
            if full and page < PAGES_PER_TICK:
                # claimed while this page is sent; its window starts before its claim too
                ahead_now, ahead_started = self.clock(), self.monotonic()
                first = min(first, ahead_now)
                since_first = (ahead_now - first).total_seconds()
                ahead = self.store.claim_due_ahead(
                    lease, ahead_now, limit=limit, reclaim_after=reclaim_after + since_first
                )
            window = SendWindow(self.store.lock, lease, self.monotonic, started)
            try:
                next_due = _earliest(next_due, self._send_page(lease, result, now, window))
            except BaseException:
                if ahead is not None:  # its entries stay in flight, reclaimed as after a crash
                    with suppress(Exception):
                        ahead()
                raise
            if ahead is None:
                break
            # a renewal made while this page was sent covers the page claimed ahead too
            started = max(ahead_started, window.renewed_from)
            now, result = ahead_now, ahead()
        if full:
            return 0.0
        return self._sleep_until(_earliest(next_due, result.next_due_at))

    def _send_page(
        self, lease: Lease, result: ClaimResult, now: datetime, window: SendWindow
    ) -> datetime | None:
        """Send one claimed page (``now``: its claim's) within ``window`` and ack it; return
        the earliest due instant of its acks."""
        for error in result.corrupt:
            logger.error("beatcore: %s; the entry is skipped until its record is fixed", error)
            self.listeners.record_corrupt(error)
        if not result.claims:
            return None
        acks: list[Ack] = []
        stream = self.dispatcher.dispatch_stream(result.claims, now, window)
        with closing(stream):
            # the store may write the first acks while the later entries are still sent
            self.store.ack_stream(lease, _kept(stream, acks), len(result.claims))
        return min((a.due_at for a in acks if a.due_at is not None), default=None)

    def _sleep_until(self, next_due: datetime | None) -> float:
        ceiling = min(float(self.max_interval), self.settings.lock_ttl / 3)
        if next_due is None:
            return ceiling
        return max(0.0, min(ceiling, (next_due - self.clock()).total_seconds()))

    def _standby_interval(self) -> float:
        return min(float(self.max_interval), self.settings.lock_ttl / 3)

    def _try_lead(self) -> Lease | None:
        lease = self.store.lock.acquire(self.holder, self.settings.lock_ttl)
        if lease is not None:
            self.lease = lease
            logger.info(
                "beatcore: %s now leads %s (fencing token %d)",
                self.holder,
                self.store.url,
                lease.token,
            )
            self.listeners.leadership_changed(True, self.holder, lease.token)
        return lease

    def _step_down(self, reason: str, *, expected: bool = False) -> None:
        if self.lease is None:
            return
        token = self.lease.token
        self.lease = None
        log = logger.info if expected else logger.warning
        log("beatcore: %s stepped down to standby: %s", self.holder, reason)
        self.listeners.leadership_changed(False, self.holder, token)

    @property
    def is_leader(self) -> bool:
        """True while this process holds a lease it has not learned to be stale."""
        return self.lease is not None

    # -- celery beat plumbing ------------------------------------------------------------

    def get_schedule(self) -> dict[str, Any]:
        """Return the stored entries as Celery ``ScheduleEntry`` objects (reads them all).

        Only for tools that inspect ``scheduler.schedule``; the tick never calls it.
        """
        found: dict[str, Any] = {}
        for entry in self.store.entries():
            found[entry.name] = self.Entry(
                name=entry.name,
                task=entry.task,
                schedule=None,
                args=entry.args,
                kwargs=entry.kwargs,
                options=entry.options,
                app=self.app,
            )
        return found

    def set_schedule(self, schedule: Any) -> None:
        """Ignore assignments: the store is the schedule."""

    schedule = property(get_schedule, set_schedule)

    def sync(self) -> None:
        """Nothing to flush: every change is written to the store when it happens."""

    def close(self) -> None:
        """Release the lease (a standby takes over at its next tick) and close the store."""
        try:
            if self.metrics_server is not None:
                self.metrics_server.close()
            if self.lease is not None and self._store is not None:
                try:
                    self._store.lock.release(self.lease)
                    logger.info("beatcore: %s released leadership", self.holder)
                finally:
                    self._step_down("shutting down", expected=True)
            if self._store is not None:
                self._store.close()
        finally:
            super().close()

    @property
    def info(self) -> str:
        """Shown in beat's startup banner: the store (password masked) and the lock.

        Celery reads it from a second, never-started scheduler, so it must not open the store
        (that connection would never be closed).
        """
        url = self._store.url if self._store is not None else mask_password(self.settings.url)
        return (
            f"    . store -> {url}\n"
            f"    . lock -> ttl {self.settings.lock_ttl:g}s, holder {self.holder}"
        )
