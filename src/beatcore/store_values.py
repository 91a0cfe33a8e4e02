"""The values the :class:`~beatcore.store.Store` and :class:`~beatcore.store.Lock` interfaces
take and return (leases, claims, acks, reports, status; the run values are in
:mod:`beatcore.run_values`); import them from
:mod:`beatcore.store`, where the interfaces they belong to are."""

from __future__ import annotations

import json
from datetime import datetime

import attrs

from beatcore.entry import Entry, EntryState
from beatcore.errors import CorruptRecord
from beatcore.run_values import RUN_OUTCOMES as RUN_OUTCOMES
from beatcore.run_values import Running as Running
from beatcore.run_values import RunOutcome as RunOutcome
from beatcore.run_values import RunRecord as RunRecord
from beatcore.values import SORTED_JSON


@attrs.frozen
class Lease:
    """Proof of leadership: returned by :meth:`Lock.acquire`, passed to every fenced call.

    :param token: the fencing token, strictly larger than every token issued before it.
    :param holder: who holds it (host, pid, start time), shown by status output.
    :param ttl: seconds the lease lasts after each acquire or renew.
    """

    token: int
    holder: str
    ttl: float


@attrs.frozen
class LockInfo:
    """Who holds the lock now, for status output. ``expires_at`` None: unknown to the store."""

    holder: str
    token: int
    acquired_at: datetime | None
    expires_at: datetime | None


@attrs.frozen
class Claim:
    """One due entry handed to the leader by :meth:`Store.claim_due`.

    :param entry: the definition at claim time.
    :param state: the state at claim time (its ``next_run_at`` is the occurrence that is due).
    :param recovered: True when a previous leader claimed it and never acked it.
    :param running: the entry's last run as the store keeps it for the overlap policy (a
        store that records outcomes, :attr:`Store.records_outcomes`; None: none kept).
    """

    entry: Entry
    state: EntryState
    recovered: bool = False
    running: Running | None = None


@attrs.frozen
class ClaimResult:
    """What :meth:`Store.claim_due` returns.

    :param claims: the due entries, earliest due first (at most ``limit``).
    :param corrupt: due records that could not be read; the store took them out of the due
        index and recorded the error, so they are reported once and not returned again.
    :param next_due_at: the earliest due instant among entries not claimed by this call (None
        when nothing else is scheduled); the scheduler sleeps until then at most.
    """

    claims: tuple[Claim, ...] = ()
    corrupt: tuple[CorruptRecord, ...] = ()
    next_due_at: datetime | None = None


@attrs.frozen
class Ack:
    """The outcome of one claimed entry, given back through :meth:`Store.ack`.

    :param name: the entry.
    :param claimed: the state the claim returned.
    :param state: the state after this tick's sends (next occurrence, counters, last task id).
    :param due_at: when ``state`` is next due (with jitter and pending trigger), None if never.

    If the entry was changed while in flight, the store merges: ``next_run_at`` and
    ``triggered_at`` keep the newer values written meanwhile (a save that rescheduled it, a new
    trigger), the run facts (last run, counters, last task id, last error) come from ``state``,
    and a deleted entry stays deleted. A disabled entry is not put back in the due index.
    """

    name: str
    claimed: EntryState
    state: EntryState
    due_at: datetime | None
    runs: tuple[RunRecord, ...] = ()
    """What this tick did with each occurrence, oldest first, for the entry's run history."""
    running: Running | None = None
    """The entry's last run after this tick (overlap policy), for a store that records
    outcomes to keep and return with its next claim; None: leave what is kept as it is.
    Merged with what the worker reported meanwhile (:func:`beatcore.outcomes.running_after_ack`)."""


#: What a change did to an entry (:attr:`Change.action`); a later release may add others.
CHANGE_ACTIONS = ("add", "update", "delete", "enable", "disable", "trigger")


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string or null, got {value!r:.60}")
    return value


@attrs.frozen
class Change:
    """One change to the schedule, kept in the change log (:meth:`Store.record_changes`).

    :param name: the entry changed (its log outlives a delete).
    :param action: one of ``CHANGE_ACTIONS`` when written by this release; a record
        written by a newer one reads with whatever action it names.
    :param at: when the change was made (aware UTC).
    :param by: who made it: ``user@host`` for the CLI, ``beat@host`` for beat's static sync,
        what the caller says for the API; None when not known.
    :param reason: why, as the person gave it (``disable --reason``), else None.
    :param fields: for an ``update``, the names of the fields that changed, sorted; never their
        values (arguments and options may hold secrets).
    :param via: how, when not a single management call: ``"import"``, ``"redbeat"`` and
        ``"django-celery-beat"`` (the migrations), ``"beat_schedule"`` (beat's static sync).
    """

    name: str
    action: str
    at: datetime
    by: str | None = None
    reason: str | None = None
    fields: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    via: str | None = None

    def to_json(self) -> str:
        """Return the JSON text a store keeps (read back with :meth:`from_json`)."""
        data: dict[str, object] = {
            "v": 1,
            "name": self.name,
            "action": self.action,
            "at": self.at.isoformat(),
        }
        for key, value in (("by", self.by), ("reason", self.reason), ("via", self.via)):
            if value is not None:
                data[key] = value
        if self.fields:
            data["fields"] = list(self.fields)
        return SORTED_JSON.encode(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Change | None:
        """Return the change of :meth:`to_json` text, or None when it cannot be read.

        Fields this release does not know (a newer record) are ignored; a record without a
        name, an action or an aware ``at`` is unreadable.
        """
        try:
            data = json.loads(text)
            name, action = data["name"], data["action"]
            fields = data.get("fields") or []
            if not isinstance(name, str) or not isinstance(action, str) or not action:
                return None
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                return None
            change = cls(
                name=name,
                action=action,
                at=datetime.fromisoformat(data["at"]),
                by=_optional_text(data.get("by")),
                reason=_optional_text(data.get("reason")),
                fields=tuple(fields),
                via=_optional_text(data.get("via")),
            )
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None
        return change if change.at.tzinfo is not None else None


@attrs.frozen
class SyncReport:
    """What :meth:`Store.sync_static` changed, by entry name."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


@attrs.frozen
class InFlight:
    """A claimed occurrence that has not been acked yet."""

    name: str
    token: int
    claimed_at: datetime
    next_run_at: datetime | None


@attrs.frozen
class StoreStatus:
    """A snapshot for ``celery beatcore status`` and health checks."""

    url: str
    leader: LockInfo | None
    last_tick_at: datetime | None
    entry_count: int
    corrupt_count: int
    in_flight: tuple[InFlight, ...]
    next_due_at: datetime | None


@attrs.frozen
class BeatInfo:
    """What the scheduler tells the store about itself at start (:meth:`Store.record_beat`).

    :param holder: who started (host, pid, start time), as in the lock.
    :param started_at: when.
    :param schedule_types: the ``type_name`` of every schedule type it can read; ``add`` and
        ``edit`` warn when an entry's type is not among them.
    """

    holder: str
    started_at: datetime
    schedule_types: tuple[str, ...]

    def to_json(self) -> str:
        """Return the JSON text a store keeps (read back with :meth:`from_json`)."""
        return json.dumps(
            {
                "holder": self.holder,
                "started_at": self.started_at.isoformat(),
                "schedule_types": list(self.schedule_types),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> BeatInfo | None:
        """Return the info of :meth:`to_json` text, or None when it cannot be read."""
        try:
            data = json.loads(text)
            return cls(
                holder=str(data["holder"]),
                started_at=datetime.fromisoformat(data["started_at"]),
                schedule_types=tuple(str(name) for name in data["schedule_types"]),
            )
        except (ValueError, TypeError, KeyError):
            return None
