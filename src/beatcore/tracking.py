"""The worker side of run tracking (``beatcore_track_runs = True``): what each run beat sent
became, reported into its entry's run history through Celery's own task signals.

Nothing to call by hand: ``celery`` loads beatcore's command (the ``celery.commands`` entry
point) for every sub-command, ``celery worker`` included, and that import calls
:func:`install`, which connects one receiver to Celery's ``worker_init``. When the worker's
app has ``beatcore_track_runs = True`` it connects a :class:`Tracker` to ``task_prerun``,
``task_failure``, ``task_retry`` and ``task_postrun``; otherwise it connects nothing, so with
the setting off no task sees any handler. A worker started some other way (``app.Worker()``
in code) calls :func:`track_runs` itself.

A task not sent by beat (no ``beatcore_entry`` header) is never
touched. A run beat sent costs one store round trip when it starts and one when it ends
(:meth:`beatcore.store.Store.record_outcome`). The store is opened lazily in each worker
process (after the prefork pool forked). A store that cannot be reached never fails a task:
the report is dropped and logged, once per minute at most.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery import signals
from celery.utils.log import get_logger

from beatcore.publisher import ENTRY_HEADER, OCCURRENCE_HEADER
from beatcore.store import RunOutcome, Store
from beatcore.timeutil import Clock, utc_now
from beatcore.urls import mask_password
from beatcore.values import printable

logger = get_logger("beatcore.tracking")

#: The longest error text kept with a run (characters, after masking).
ERROR_LIMIT = 500
#: Seconds between two log lines about reports that could not be stored.
OUTAGE_LOG_INTERVAL = 60.0

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
_STATUS_OF_STATE = {"SUCCESS": "succeeded", "RETRY": "retried"}


def error_text(error: BaseException | None, fallback: str = "failed") -> str:
    """Return what a run keeps of ``error``: ``"Type: message"``, the password of any URL in
    the message masked, control characters escaped, cut at ``ERROR_LIMIT``; never the
    task's arguments nor the traceback."""
    if error is None:
        return fallback
    message = _URL.sub(lambda found: mask_password(found.group(0)), str(error))
    text = printable(f"{type(error).__name__}: {message}" if message else type(error).__name__)
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "\u2026"


def run_of(request: Any) -> tuple[str, datetime] | None:
    """Return the entry and occurrence a task request belongs to, from the headers beat
    adds; None for a task beat did not send (or headers that do not read)."""
    name = getattr(request, ENTRY_HEADER, None)
    occurrence = getattr(request, OCCURRENCE_HEADER, None)
    if name is None or occurrence is None:
        headers = getattr(request, "headers", None) or {}
        name, occurrence = headers.get(ENTRY_HEADER), headers.get(OCCURRENCE_HEADER)
    if not isinstance(name, str) or not isinstance(occurrence, str):
        return None
    try:
        when = datetime.fromisoformat(occurrence)
    except ValueError:
        return None
    return (name, when) if when.tzinfo is not None else None


class Tracker:
    """Reports the runs beat sent from one worker (one per worker; its processes share it).

    :param app: the Celery app; its store is opened with :func:`beatcore.connect`.
    :param open_store: opens the store (default ``beatcore.connect(app)``), called once per
        process, on its first report.
    :param clock: the instant of each report; :param monotonic: runtimes.
    :param hostname: named in each report (default: the host name).
    """

    def __init__(
        self,
        app: Any,
        *,
        open_store: Callable[[], Store] | None = None,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        hostname: str | None = None,
    ) -> None:
        self._app = app
        self._open_store = open_store or self._connect
        self._clock = clock
        self._monotonic = monotonic
        self.hostname = hostname or _hostname()
        self._mutex = threading.Lock()
        self._store: Store | None = None
        self._pid = 0
        self._started: dict[str, tuple[str, datetime, float]] = {}
        self._errors: dict[str, str] = {}
        self._logged_at: float | None = None
        self._dropped = 0
        #: Store round trips made (a report each), for the benchmark and tests.
        self.reports = 0

    def _connect(self) -> Store:
        from beatcore import connect

        return connect(self._app)

    # -- Celery's task signals ------------------------------------------------------------

    def connect(self) -> None:
        """Connect the handlers to Celery's task signals (strong references)."""
        for signal, handler in self._handlers():
            signal.connect(handler, weak=False, dispatch_uid=_uid(handler))

    def disconnect(self) -> None:
        """Disconnect the handlers (tests, benchmark); the store is closed."""
        for signal, handler in self._handlers():
            signal.disconnect(handler, dispatch_uid=_uid(handler))
        with self._mutex:
            store, self._store = self._store, None
        if store is not None and self._pid == os.getpid():
            store.close()

    def _handlers(self) -> list[tuple[Any, Callable[..., None]]]:
        return [
            (signals.task_prerun, self.on_prerun),
            (signals.task_failure, self.on_failure),
            (signals.task_retry, self.on_retry),
            (signals.task_postrun, self.on_postrun),
        ]

    def on_prerun(self, sender: Any = None, task_id: str | None = None, **kw: Any) -> None:
        """``task_prerun``: report the start of a run beat sent (nothing for another task)."""
        task = kw.get("task") or sender
        run = run_of(getattr(task, "request", None))
        if run is None or task_id is None:
            return
        name, occurrence = run
        self._started[task_id] = (name, occurrence, self._monotonic())
        at = self._clock()
        self._report(RunOutcome(name, occurrence, task_id, "started", at, worker=self.hostname))

    def on_failure(
        self, sender: Any = None, task_id: str | None = None, exception: Any = None, **_: Any
    ) -> None:
        """``task_failure``: keep the error of a tracked run for its end report."""
        if task_id in self._started:
            self._errors[task_id] = error_text(exception)

    def on_retry(
        self, sender: Any = None, request: Any = None, reason: Any = None, **_: Any
    ) -> None:
        """``task_retry``: keep why a tracked run is retried for its end report."""
        task_id = getattr(request, "id", None)
        if task_id in self._started:
            self._errors[task_id] = error_text(reason if isinstance(reason, BaseException)
                                               else None, str(reason or "retry"))  # fmt: skip

    def on_postrun(
        self, sender: Any = None, task_id: str | None = None, state: str | None = None, **_: Any
    ) -> None:
        """``task_postrun``: report the end of a tracked run (succeeded, failed, retried)
        with its runtime; one report for the run's end, whatever signals came before."""
        started = self._started.pop(task_id, None) if task_id is not None else None
        error = self._errors.pop(task_id, None) if task_id is not None else None
        if started is None or task_id is None:
            return
        name, occurrence, began = started
        status = _STATUS_OF_STATE.get(state or "", "failed")
        if status == "succeeded":
            error = None
        elif error is None:
            error = f"ended in state {state}"
        runtime = max(0.0, self._monotonic() - began)
        outcome = RunOutcome(
            name, occurrence, task_id, status, self._clock(), runtime, error, self.hostname
        )
        self._report(outcome)

    # -- the store ------------------------------------------------------------------------

    def _report(self, outcome: RunOutcome) -> None:
        """Send one report; a failure is logged (rate-limited) and never raised."""
        try:
            self._store_here().record_outcome(outcome)
        except Exception as exc:
            self._outage(outcome, exc)
            return
        self.reports += 1
        if self._dropped:
            logger.warning(
                "beatcore: run reports reach the store again (%d were dropped)", self._dropped
            )
            self._dropped, self._logged_at = 0, None

    def _store_here(self) -> Store:
        """The store of this process, opened on its first report (after a fork: a new one)."""
        pid = os.getpid()
        with self._mutex:
            if self._store is None or self._pid != pid:
                self._store, self._pid = None, pid  # a parent's connection is not ours to use
                self._store = self._open_store()
                logger.info(
                    "beatcore: reporting the runs beat sent to %s (process %d)",
                    self._store.url,
                    pid,
                )
            return self._store

    def _outage(self, outcome: RunOutcome, error: BaseException) -> None:
        self._dropped += 1
        now = self._monotonic()
        if self._logged_at is not None and now - self._logged_at < OUTAGE_LOG_INTERVAL:
            return
        self._logged_at = now
        logger.warning(
            "beatcore: the %s report of task %s (entry %r) could not be stored: %s; the task "
            "is not affected; %d report(s) dropped so far, next warning in %ds at the earliest",
            outcome.status,
            outcome.task_id,
            printable(outcome.name),
            mask_password(str(error)),
            self._dropped,
            OUTAGE_LOG_INTERVAL,
        )


def _uid(handler: Callable[..., None]) -> str:
    return f"beatcore.tracking.{handler.__name__}"


def _hostname() -> str:
    import socket

    return socket.gethostname()


_TRACKER: Tracker | None = None


def track_runs(app: Any) -> Tracker:
    """Connect a :class:`Tracker` for ``app`` (replacing one connected before); return it.

    Called at worker start by :func:`install`'s receiver when ``beatcore_track_runs`` is
    True, or by hand for a worker started without the ``celery`` command.
    """
    global _TRACKER
    if _TRACKER is not None:
        _TRACKER.disconnect()
    _TRACKER = Tracker(app)
    _TRACKER.connect()
    return _TRACKER


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    if app is None or app.conf.get("beatcore_track_runs") is not True:
        return
    track_runs(app)


def install() -> None:
    """Connect the ``worker_init`` receiver that starts tracking when the worker's app sets
    ``beatcore_track_runs = True`` (idempotent). Called when ``celery`` loads beatcore's
    command, so every ``celery worker`` has it."""
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="beatcore.tracking")
