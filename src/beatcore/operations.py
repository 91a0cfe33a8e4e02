"""The management operations on a schedule, for the CLI, the web API and any other front end.

Each operation checks what it is asked (the same rules for every caller), makes its store call,
and records what it changed in the change log
(:meth:`~beatcore.store.Store.record_changes`) with when, who (``by``) and why::

    ops = Operations(store, clock=clock, app=app)
    done = ops.disable("nightly-report", by=actor(), reason="the API is down, INC-42")
    done.action, done.entry.enabled, done.change.reason, done.warnings

The log write is a second round trip after the change, not part of it: every store's save,
delete and trigger (their compare-and-set scripts and transactions, their round-trip
budgets) stay as they are, and a management path can afford one more round trip. It comes
after the change succeeded, so the log never shows a change that did not happen; if the store
fails between the two (or the process dies), the change stands without its record and the
result says so in ``warnings``. Refusals raise :class:`~beatcore.errors.ChangeRefused`
(``kind`` says which rule), bad fields :class:`~beatcore.errors.InvalidEntry` or
:class:`~beatcore.errors.InvalidSchedule`, a missing entry
:class:`~beatcore.errors.EntryNotFound`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from beatcore import timing
from beatcore.entry import Entry, EntryState
from beatcore.errors import BeatcoreError, ChangeRefused, CorruptRecord, EntryNotFound
from beatcore.operation_rules import (
    MAX_BY_LENGTH,
    MAX_REASON_LENGTH,
    actor,
    apply_fields,
    changed_fields,
    check_by,
    check_reason,
    pause_of,
    static_refusal,
    task_warning,
)
from beatcore.overlap import overlap_refusal
from beatcore.store import Change, Store
from beatcore.timeutil import Clock, utc_now

__all__ = [
    "MAX_BY_LENGTH",
    "MAX_REASON_LENGTH",
    "ImportItem",
    "ImportResult",
    "OperationResult",
    "Operations",
    "actor",
    "apply_fields",
    "changed_fields",
    "check_by",
    "check_reason",
    "pause_of",
    "static_refusal",
    "task_warning",
]


@attrs.frozen
class OperationResult:
    """What one operation did, for a front end to render.

    :param action: ``"added"``, ``"replaced"``, ``"updated"``, ``"unchanged"``,
        ``"deleted"``, ``"enabled"``, ``"disabled"`` or ``"triggered"``.
    :param name: the entry.
    :param entry: its definition afterwards (before, for ``deleted``; None when the deleted
        record could not be read).
    :param state: its state afterwards (None after a delete).
    :param changed: for ``updated`` and ``replaced``, the fields that changed, sorted.
    :param change: what the change log recorded (None when nothing changed).
    :param warnings: what the person should be told: a task the app does not know, a schedule
        type the last beat cannot read, a static entry beat_schedule restores, a change that
        could not be logged.
    :param task_id: for ``triggered``, the task id of the run it asked for.
    """

    action: str
    name: str
    entry: Entry | None
    state: EntryState | None = None
    changed: tuple[str, ...] = ()
    change: Change | None = None
    warnings: tuple[str, ...] = ()
    task_id: str | None = None


@attrs.frozen
class ImportItem:
    """What an import does with one entry: ``"add"``, ``"update"`` (``changed`` says which
    fields), ``"unchanged"`` or ``"skip"`` (a static entry, without ``include_static``)."""

    name: str
    action: str
    changed: tuple[str, ...] = ()


@attrs.frozen
class ImportResult:
    """What :meth:`Operations.import_entries` did (or would do: ``dry_run``).

    :param items: one per entry given, in order.
    :param refused: entries the store refused, with why (the others were written).
    :param changes: what the change log recorded.
    :param warnings: as in :class:`OperationResult`.
    """

    items: tuple[ImportItem, ...]
    refused: Mapping[str, str]
    changes: tuple[Change, ...]
    warnings: tuple[str, ...]
    dry_run: bool

    @property
    def written(self) -> int:
        """How many entries were (or would be) added or updated."""
        return sum(item.action in ("add", "update") for item in self.items) - len(self.refused)


class Operations:
    """The management operations on one store.

    :param store: the schedule.
    :param clock: the current instant (when a change is made, a trigger's time).
    :param app: the Celery app, to warn about a task it does not know (None: no check).
    """

    def __init__(self, store: Store, *, clock: Clock = utc_now, app: Any = None) -> None:
        self.store = store
        self.clock = clock
        self.app = app

    # -- the change log ----------------------------------------------------------------------

    def record(self, changes: Sequence[Change]) -> tuple[str, ...]:
        """Write ``changes`` to the log; return a warning when the store failed to."""
        if not changes:
            return ()
        try:
            self.store.record_changes(changes)
        except BeatcoreError as exc:
            what = "the change was" if len(changes) == 1 else f"{len(changes)} changes were"
            return (f"warning: {what} made but not written to the change log: {exc}",)
        return ()

    def _log(self, name: str, action: str, by: str | None, **fields: Any) -> Change:
        return Change(name, action, self.clock(), by=check_by(by, name), **fields)

    # -- definitions -------------------------------------------------------------------------

    def existing(self, name: str) -> Entry | None:
        """Return the entry ``name``, or None when there is none.

        :raises CorruptRecord: there is a record of that name that cannot be read.
        """
        try:
            return self.store.get(name)
        except EntryNotFound:
            return None

    def save(
        self, entry: Entry, *, by: str | None, replace: bool = False, force: bool = False
    ) -> OperationResult:
        """Add ``entry``, or with ``replace`` overwrite the entry of that name.

        :raises ChangeRefused: ``kind`` ``"exists"`` (an entry of that name exists, also one
            whose record cannot be read, and ``replace`` is false) or ``"static"`` (it
            replaces a static entry without ``force``).
        """
        try:
            old = self.existing(entry.name)
        except CorruptRecord:
            if not replace:
                raise ChangeRefused(
                    entry.name,
                    "exists",
                    f"entry {entry.name!r} already exists (its record cannot be read); "
                    "pass --replace to overwrite it",
                ) from None
            old = None
        if old is not None and not replace:
            raise ChangeRefused(
                entry.name,
                "exists",
                f"entry {entry.name!r} already exists; pass --replace to overwrite it",
            )
        if old is not None and old.static and not force:
            raise ChangeRefused(entry.name, "static", static_refusal(entry.name, "replace"))
        check_by(by, entry.name)
        self._check_overlap(entry)
        warnings = self._task_warnings(entry)
        state = self.store.save(entry)
        warnings += self._type_warnings(entry)
        if old is not None:
            changed = changed_fields(old, entry)
            if not changed:
                return OperationResult("unchanged", entry.name, entry, state, warnings=warnings)
            change = self._log(entry.name, "update", by, fields=changed)
            action = "replaced"
        else:
            changed = ()
            change = self._log(entry.name, "add", by)
            action = "added"
        warnings += self.record([change])
        return OperationResult(action, entry.name, entry, state, changed, change, warnings)

    def edit(
        self, name: str, changes: Mapping[str, Any], *, by: str | None, force: bool = False
    ) -> OperationResult:
        """Change fields of entry ``name``; the rest keep theirs. ``changes`` are applied as
        :func:`~beatcore.operation_rules.apply_fields` says.

        :raises ChangeRefused: ``kind`` ``"static"``: a static entry, without ``force``.
        """
        entry = self.check_editable(name, force=force)
        check_by(by, name)
        new = entry.evolve(**apply_fields({"options": entry.options}, changes))
        changed = changed_fields(entry, new)
        if not changed:
            return OperationResult("unchanged", name, entry, self.store.state(name))
        self._check_overlap(new)
        warnings = self._task_warnings(new) if "task" in changed else ()
        state = self.store.save(new)
        if "schedule" in changed:
            warnings += self._type_warnings(new)
        change = self._log(name, "update", by, fields=changed)
        warnings += self.record([change])
        return OperationResult("updated", name, new, state, changed, change, warnings)

    def check_editable(self, name: str, *, force: bool = False) -> Entry:
        """Return the entry ``edit`` would change; called by a front end before it reads
        the changes (so a static entry is refused first).

        :raises ChangeRefused: ``kind`` ``"static"``: a static entry, without ``force``.
        """
        entry = self.store.get(name)
        if entry.static and not force:
            raise ChangeRefused(name, "static", static_refusal(name, "edit"))
        return entry

    def check_deletable(self, name: str, *, force: bool = False) -> Entry | None:
        """Return the entry ``delete`` would remove (None: its record cannot be read).

        Called by a front end before it asks for confirmation.

        :raises EntryNotFound: no such entry.
        :raises ChangeRefused: ``kind`` ``"static"``: a static entry, without ``force``.
        """
        try:
            entry: Entry | None = self.store.get(name)
        except CorruptRecord:
            entry = None  # an unreadable record can still be deleted
        if entry is not None and entry.static and not force:
            raise ChangeRefused(name, "static", static_refusal(name, "remove"))
        return entry

    def delete(self, name: str, *, by: str | None, force: bool = False) -> OperationResult:
        """Delete entry ``name`` and its run history; its change log stays, with this delete.

        :raises EntryNotFound: no such entry.
        :raises ChangeRefused: as :meth:`check_deletable`.
        """
        entry = self.check_deletable(name, force=force)
        check_by(by, name)
        self.store.delete(name)
        change = self._log(name, "delete", by)
        return OperationResult("deleted", name, entry, None, change=change,
                               warnings=self.record([change]))  # fmt: skip

    def enable(self, name: str, *, by: str | None, reason: str | None = None) -> OperationResult:
        """Enable ``name``: its next run is computed from now (missed runs are not caught up)."""
        return self._set_enabled(name, True, by, reason)

    def disable(self, name: str, *, by: str | None, reason: str | None = None) -> OperationResult:
        """Disable ``name`` (pause it), saying why: it keeps its state and history."""
        return self._set_enabled(name, False, by, reason)

    def _set_enabled(
        self, name: str, enabled: bool, by: str | None, reason: str | None
    ) -> OperationResult:
        reason = check_reason(reason, name)
        check_by(by, name)
        entry = self.store.get(name)
        if entry.enabled == enabled:
            return OperationResult("unchanged", name, entry, self.store.state(name))
        self.store.set_enabled(name, enabled)
        state = self.store.state(name)
        word = "enable" if enabled else "disable"
        change = self._log(name, word, by, reason=reason)
        warnings = self.record([change])
        if entry.static:
            warnings += (
                f"note: {name!r} is static; beat_schedule decides whether it is enabled at "
                "beat's next start",
            )
        return OperationResult(f"{word}d", name, entry.evolve(enabled=enabled), state,
                               change=change, warnings=warnings)  # fmt: skip

    def trigger(
        self, name: str, *, by: str | None, at: datetime | None = None, reason: str | None = None
    ) -> OperationResult:
        """Run ``name`` once at beat's first tick at or after ``at`` (default now), besides
        its schedule, also when disabled; the result's ``task_id`` is that run's."""
        reason = check_reason(reason, name)
        check_by(by, name)
        entry = self.store.get(name)
        when = at or self.clock()
        self.store.trigger(name, when)
        change = self._log(name, "trigger", by, reason=reason)
        return OperationResult(
            "triggered", name, entry, self.store.state(name), change=change,
            warnings=self.record([change]), task_id=timing.task_id(name, when),
        )  # fmt: skip

    # -- many at once ----------------------------------------------------------------------

    def import_entries(
        self,
        entries: Iterable[Entry],
        *,
        by: str | None,
        include_static: bool = False,
        dry_run: bool = False,
        via: str = "import",
    ) -> ImportResult:
        """Add or update ``entries`` with one :meth:`~beatcore.store.Store.save_many`
        (entries of the store not given are left alone); the migrations call it with their
        own ``via``.

        Static entries are skipped unless ``include_static`` (beat_schedule owns them). An
        entry the store refuses, or with an overlap policy while ``beatcore_track_runs`` is
        off, is in ``refused``; the others are written all the same.
        """
        stored = {entry.name: entry for entry in self.store.entries()}  # one read
        items: list[ImportItem] = []
        plan: list[Entry] = []
        for entry in entries:
            current = stored.get(entry.name)
            if entry.static and not include_static:
                items.append(ImportItem(entry.name, "skip"))
            elif current is None:
                items.append(ImportItem(entry.name, "add"))
                plan.append(entry)
            elif changed := changed_fields(current, entry):
                items.append(ImportItem(entry.name, "update", changed))
                plan.append(entry)
            else:
                items.append(ImportItem(entry.name, "unchanged"))
        if dry_run or not plan:
            return ImportResult(tuple(items), {}, (), (), dry_run)
        refused = {e.name: why for e in plan if (why := overlap_refusal(e, self.app, self.store))}
        refused.update(self.store.save_many(e for e in plan if e.name not in refused).refused)
        changes = [
            self._log(item.name, item.action, by, fields=item.changed, via=via)
            for item in items
            if item.action in ("add", "update") and item.name not in refused
        ]
        warnings = self.record(changes)
        return ImportResult(tuple(items), refused, tuple(changes), warnings, dry_run)

    # -- warnings ----------------------------------------------------------------------------

    def _check_overlap(self, entry: Entry) -> None:
        why = overlap_refusal(entry, self.app, self.store)
        if why is not None:
            raise ChangeRefused(entry.name, "overlap", why, "overlap")

    def _task_warnings(self, entry: Entry) -> tuple[str, ...]:
        warning = task_warning(self.app, entry.task) if self.app is not None else None
        return (warning,) if warning else ()

    def _type_warnings(self, entry: Entry) -> tuple[str, ...]:
        """Warn when the beat that last started on this store cannot read the entry's type."""
        info = self.store.beat_info()
        type_name = entry.schedule.type_name
        if info is None or type_name in info.schedule_types:
            return ()
        return (
            f"warning: the beat that last started on this store ({info.holder}) has no "
            f"schedule type {type_name!r} (it has: {', '.join(info.schedule_types)}); it "
            f"cannot run {entry.name!r} until the plugin providing {type_name!r} is installed "
            "where beat runs and beat is restarted",
        )
