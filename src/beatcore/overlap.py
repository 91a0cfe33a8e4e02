"""The overlap policy of an entry: what a tick does with occurrences due while the entry's
previous run is still running.

``allow`` (the default) sends them as always. ``skip`` skips them (logged, counted, recorded
in the run history with the reason). ``buffer_one`` holds one until that run ends and skips
the rest; the end report makes the entry due at once, store side
(:func:`beatcore.outcomes.running_after_outcome`), so the next tick sends it. Whether a run
is still running is the :class:`~beatcore.store.Running` the claim returned: no extra round
trip. A run that never reports back stops blocking ``limit`` seconds after its last sign of
life (:class:`RunLimits`). Manual triggers and re-sends of a dead leader's claim are sent
whatever the policy.

The dispatcher calls ``plan_overlap`` after ``beatcore.timing.plan_runs``, sends
``release`` (if any) and ``plan.runs``, then ``running_after_sends`` for the ack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import attrs

from beatcore.entry import Entry
from beatcore.errors import InvalidEntry
from beatcore.runs import RunPlan, SendOutcome, SendStatus, Skipped
from beatcore.store import Claim, Running, Store


class OverlapPlan(NamedTuple):
    """What a tick sends of one entry under its overlap policy (a tuple: one is made per
    claimed entry, and an attrs class's frozen fields cost several times a tuple's).

    :param plan: the occurrences to send (``runs``) and skip (with the policy's skips).
    :param release: the held occurrence sent first this tick (its run ended or timed out),
        or None.
    :param held: the occurrence held after this tick (``buffer_one``), or None.
    :param running: the run the claim returned, if any.
    """

    plan: RunPlan
    release: datetime | None = None
    held: datetime | None = None
    running: Running | None = None

    @property
    def sends(self) -> tuple[datetime, ...]:
        """The occurrences to send, in order: the release, then the plan's runs."""
        return self.plan.runs if self.release is None else (self.release, *self.plan.runs)


def plan_overlap(
    entry: Entry, claim: Claim, plan: RunPlan, now: datetime, *, tracked: bool = True
) -> OverlapPlan:
    """Apply ``entry.overlap`` to the plan of one claimed entry at the claim's ``now``.

    At most one run of the entry is in progress after the tick: the first occurrence due
    when nothing runs is sent, later ones are skipped (``skip``) or one is held
    (``buffer_one``). Without ``tracked`` (``beatcore_track_runs`` off: no run reports its
    end; an entry saved past the refusal, through the store itself) every policy is
    ``allow``.
    """
    running = claim.running
    if entry.overlap == "allow" or not tracked:
        return OverlapPlan(plan, running=running)
    state = claim.state
    exempt = {state.triggered_at} | ({state.next_run_at} if claim.recovered else set())
    blocking = running if running is not None and running.blocks(now) else None
    held = running.held if running is not None else None
    release = None
    if held is not None and blocking is None:
        release, held = held, None
    busy = blocking is not None or release is not None
    runs: list[datetime] = []
    skipped = list(plan.skipped)
    for occurrence in plan.runs:
        if occurrence in exempt or not busy:
            runs.append(occurrence)
            busy = True
        elif entry.overlap == "buffer_one" and held is None:
            held = occurrence
        else:
            skipped.append(Skipped(occurrence, _reason(entry, blocking, held, release), "overlap"))
    skipped.sort(key=lambda s: s.occurrence)
    planned = RunPlan(tuple(runs), tuple(skipped), plan.next_run_at)
    return OverlapPlan(planned, release, held, running)


def _reason(
    entry: Entry, blocking: Running | None, held: datetime | None, release: datetime | None
) -> str:
    if held is not None:
        return (
            f"an occurrence ({held.isoformat()}) is already waiting for the previous run, "
            "overlap=buffer_one"
        )
    if blocking is not None:
        return (
            f"the run of {blocking.occurrence.isoformat()} (task {blocking.task_id}) was "
            f"still running, overlap={entry.overlap}"
        )
    sent = "the waiting occurrence" if release is not None else "another occurrence"
    return f"{sent} was sent this tick, overlap={entry.overlap}"


def running_after_sends(
    entry: Entry,
    overlap: OverlapPlan,
    outcomes: Sequence[SendOutcome],
    sent_at: Mapping[datetime, datetime],
    limit: float,
) -> tuple[Running | None, tuple[Skipped, ...]]:
    """Return the running fact the ack writes (None: leave the stored one) and what the
    tick now skips besides the plan's skips.

    The last occurrence sent becomes the running run, blocking ``limit`` seconds from its
    send. A held occurrence whose release could not be sent stays held (retried with the
    same task id); one held in that same tick is then skipped, as only one may wait.
    Called by the dispatcher only when runs are tracked (``track_runs``).
    """
    if entry.overlap == "allow":
        return None, ()
    sent = [o for o in outcomes if o.status is SendStatus.SENT]
    held: datetime | None = overlap.held
    extra: tuple[Skipped, ...] = ()
    release = overlap.release
    if release is not None and not any(o.occurrence == release for o in sent):
        if held is not None:
            why = f"the waiting occurrence {release.isoformat()} could not be sent"
            extra = (Skipped(held, f"{why}, overlap=buffer_one", "overlap"),)
        held = release
    if sent:
        last = max(sent, key=lambda o: o.occurrence)
        at = sent_at.get(last.occurrence, last.occurrence)
        until = at + timedelta(seconds=limit)
        return Running(last.task_id, last.occurrence, until, limit, held=held), extra
    running = overlap.running
    if running is None or held == running.held:
        return None, extra
    return attrs.evolve(running, held=held), extra


class RunLimits:
    """How long a run may go without reporting back before it stops blocking its entry.

    The entry's ``overlap_timeout`` if set, else the task's time limit (``time_limit`` in
    the entry's options, the task's own ``time_limit``, Celery's ``task_time_limit``), else
    ``default`` (``beatcore_overlap_timeout``). Built once by the scheduler.
    """

    def __init__(self, app: Any, default: float) -> None:
        self._app = app
        self._default = default
        self._by_task: dict[str, float | None] = {}

    def limit(self, entry: Entry) -> float:
        """Return the seconds a run of ``entry`` blocks without a sign of life."""
        if entry.overlap_timeout is not None:
            return float(entry.overlap_timeout)
        own = _seconds(entry.options.get("time_limit"))
        if own is not None:
            return own
        if entry.task not in self._by_task:
            self._by_task[entry.task] = self._task_limit(entry.task)
        found = self._by_task[entry.task]
        return self._default if found is None else found

    def _task_limit(self, name: str) -> float | None:
        task = self._app.tasks.get(name) if self._app is not None else None
        for value in (
            getattr(task, "time_limit", None),
            None if self._app is None else self._app.conf.get("task_time_limit"),
        ):
            seconds = _seconds(value)
            if seconds is not None:
                return seconds
        return None


def _seconds(value: Any) -> float | None:
    """A positive number of seconds as a float, else None (not set, or not a limit)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def trackable(
    entries: Sequence[Entry], track_runs: bool, store: Store
) -> tuple[list[Entry], dict[str, str]]:
    """Split ``entries`` into those :func:`check_tracking` accepts and the errors of the
    others, by name; called by the scheduler's static sync (a refused entry is logged and
    kept as stored, as any bad ``beat_schedule`` item)."""
    kept: list[Entry] = []
    refused: dict[str, str] = {}
    for entry in entries:
        try:
            check_tracking(entry, track_runs, store.records_outcomes, store.url)
        except InvalidEntry as exc:
            refused[entry.name] = str(exc)
        else:
            kept.append(entry)
    return kept, refused


def overlap_refusal(entry: Entry, app: Any, store: Store) -> str | None:
    """Return why ``entry`` may not be saved to ``store`` with ``app``'s settings
    (:func:`check_tracking`), or None; called by ``beatcore.operations`` (an ``app`` of
    None: not checked)."""
    if entry.overlap == "allow" or app is None:
        return None
    track_runs = app.conf.get("beatcore_track_runs") is True
    try:
        check_tracking(entry, track_runs, store.records_outcomes, store.url)
    except InvalidEntry as exc:
        return str(exc)
    return None


def check_tracking(entry: Entry, track_runs: bool, records_outcomes: bool, url: str) -> None:
    """Refuse an entry whose overlap policy cannot work here.

    Called wherever an entry is saved with the app's settings at hand (the scheduler's
    static sync, ``celery beatcore add`` and ``edit``, ``beatcore.operations``).

    :raises InvalidEntry: ``overlap`` is not ``allow`` while ``beatcore_track_runs`` is off,
        or the store does not record what workers report.
    """
    if entry.overlap == "allow":
        return
    if not track_runs:
        raise InvalidEntry(
            f"entry {entry.name!r} has overlap={entry.overlap!r}, which needs "
            "beatcore_track_runs = True (the workers report when a run ends): set "
            "beatcore_track_runs = True in the app's configuration, or use overlap='allow'"
        )
    if not records_outcomes:
        raise InvalidEntry(
            f"entry {entry.name!r} has overlap={entry.overlap!r}, which needs a store that "
            f"records worker outcomes; {url} does not (beatcore_track_runs is on, but the "
            "store keeps no running fact): use overlap='allow' with this store"
        )
