"""Every extension point of beatcore, as pluggy hook specifications (project "beatcore").

Implement a hook with :data:`hookimpl` in a module and register the module through the
``beatcore`` entry-point group or the ``beatcore_plugins`` setting. Built-in schedule types and
stores are registered through these same hooks (:mod:`beatcore.builtins`,
:mod:`beatcore.stores.memory`, :mod:`beatcore.stores.sqlite`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from beatcore.entry import Entry
    from beatcore.errors import CorruptRecord, StoreUnavailable
    from beatcore.runs import Skipped
    from beatcore.schedules.base import ScheduleType
    from beatcore.store import Store

hookspec = pluggy.HookspecMarker("beatcore")
hookimpl = pluggy.HookimplMarker("beatcore")


@hookspec
def beatcore_schedule_types() -> Sequence[type[ScheduleType]]:
    """Return the schedule type classes this plugin provides.

    Called once when the plugin manager builds its registry of types (and again after a plugin
    is registered later). Each class's ``type_name`` must be unique across all plugins.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def beatcore_store_from_url(url: str, options: Mapping[str, Any]) -> Store | None:
    """Return an open :class:`~beatcore.store.Store` for ``url``, or None if not yours.

    Called by :func:`beatcore.connect` and by the scheduler at startup. ``options`` holds
    ``app.conf.beatcore_store_options`` plus ``key_prefix``, ``default_timezone`` and
    ``clock``. Raise :class:`beatcore.errors.ConfigurationError` for a malformed URL of your
    scheme; the first non-None result wins.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def beatcore_store_missing(url: str, options: Mapping[str, Any]) -> str | None:
    """Return why there is no store at ``url`` yet, or None (it exists, or cannot be told).

    Called by ``celery beatcore`` before a verb that only reads (``list``, ``show``,
    ``status``, ``export``) opens the store, so that looking never creates a store: a file
    store answers ``"file /srv/beat/celerybeat-schedule.beatcore.sqlite3 does not exist"``
    when the file is not there. Return None for a URL that is not yours, and for a store
    that reading does not create (a server). The first non-None result wins.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def beatcore_adapt_schedule(obj: object) -> ScheduleType | None:
    """Return a schedule type equivalent to a foreign schedule object, or None if unknown.

    Called for each ``beat_schedule`` value that is not already a beatcore schedule type
    (Celery's ``schedule``, ``crontab``, ``solar``, a ``timedelta``, a number of seconds).
    Within one reading of ``beat_schedule`` an answer of beatcore's own (immutable) types is
    reused for the same object and for equal values of exactly those types
    (``beatcore.static.Schedules``); an answer of a plugin's own type is asked again.
    """
    raise NotImplementedError


@hookspec
def beatcore_entry_dispatched(entry: Entry, occurrence: datetime, task_id: str) -> None:
    """Called after the leader sent one occurrence of ``entry`` to the broker."""


@hookspec
def beatcore_dispatch_failed(
    entry: Entry, occurrence: datetime, task_id: str, error: BaseException
) -> None:
    """Called when sending an occurrence failed; it is retried at a later tick, same task id."""


@hookspec
def beatcore_occurrences_skipped(entry: Entry, skipped: Sequence[Skipped]) -> None:
    """Called once per entry and tick in which occurrences of ``entry`` were not sent.

    ``skipped`` lists them oldest first, each a :class:`~beatcore.runs.Skipped` with its
    ``occurrence`` and ``reason`` (catch-up policy, ``misfire_grace`` or ``max_runs``). After a
    long downtime that is one call with thousands of occurrences, not thousands of calls.
    """


@hookspec(
    warn_on_impl=DeprecationWarning(
        "beatcore_occurrence_skipped is deprecated: it is called once per entry and tick, with "
        "the latest skipped occurrence only; implement beatcore_occurrences_skipped(entry, "
        "skipped) to see every one"
    )
)
def beatcore_occurrence_skipped(entry: Entry, occurrence: datetime, reason: str) -> None:
    """Deprecated: use :func:`beatcore_occurrences_skipped`.

    Called once per entry and tick in which occurrences were skipped, with the latest of them
    and its reason (it was called for each one, which after a long downtime meant tens of
    thousands of calls in one tick). Registering an implementation warns.
    """


@hookspec
def beatcore_leadership_changed(is_leader: bool, holder: str, token: int | None) -> None:
    """Called when this scheduler process gains (True) or loses (False) leadership."""


@hookspec
def beatcore_record_corrupt(error: CorruptRecord) -> None:
    """Called when the leader finds a due record it cannot read (it is skipped, not deleted)."""


@hookspec
def beatcore_tick_finished(is_leader: bool, seconds: float, at: datetime) -> None:
    """Called after every tick that reached its end, leader's or standby's.

    ``seconds`` is how long the tick took (on a monotonic clock), ``at`` when it ended.
    A tick that failed (the store did not answer, the lease was lost) is not reported here.
    """


@hookspec
def beatcore_store_unavailable(error: StoreUnavailable) -> None:
    """Called each time a tick failed because a store round trip failed (it is retried)."""


@hookspec
def beatcore_cli_commands() -> Sequence[click.Command]:
    """Return extra verbs (click commands) for ``celery beatcore``.

    Called once per ``celery beatcore`` invocation, when the command group first lists or
    resolves its verbs, after the app's ``beatcore_plugins`` are loaded. A verb gets the app
    and the open store through :func:`beatcore.cli.pass_session`. A name already taken by a
    built-in verb or another plugin is ignored with a warning.
    """
    raise NotImplementedError
