"""The values of an entry's runs as a store keeps them: :class:`RunRecord` (one occurrence in
the run history), :class:`RunOutcome` (what a worker reports of a run) and :class:`Running`
(the last run of an entry with an overlap policy, which the claim returns).

Import them from :mod:`beatcore.store`, where the interface that takes them is. Each keeps
itself as JSON text (``to_json``, ``from_json``); ``from_json`` returns None for text it
cannot read, so one bad record never stops the others.
"""

from __future__ import annotations

import json
from datetime import datetime
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

import attrs

from beatcore.timeutil import instant_text
from beatcore.values import SORTED_JSON

#: What beat did with one occurrence (:attr:`RunRecord.outcome`).
RUN_OUTCOMES = ("sent", "resent", "skipped", "send_failed")

#: What a worker says of a run (:attr:`RunOutcome.status`, :attr:`RunRecord.status`):
#: ``started``; ``retried`` (an attempt ended with a retry: the task runs again with the same
#: task id); ``succeeded``; ``failed``.
RUN_STATUSES = ("started", "retried", "succeeded", "failed")
#: The statuses that end a run (it no longer blocks the entry's next occurrence).
FINAL_STATUSES = ("succeeded", "failed")


def _instant(value: Any) -> datetime | None:
    """Read an optional aware instant of a record (ValueError when naive or not one)."""
    if value is None:
        return None
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"naive instant {value!r}")
    return when


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_seconds(value: Any) -> float | None:
    return None if value is None else float(value)


_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError)


@attrs.frozen
class RunRecord:
    """One occurrence of an entry and what became of it, kept in the run history.

    What beat did:

    :param occurrence: the scheduled instant.
    :param task_id: the occurrence's deterministic task id.
    :param outcome: ``"sent"``; ``"resent"`` (sent again after the leader that claimed it died
        before its ack); ``"skipped"`` (``detail`` says why); ``"send_failed"`` (``detail`` is
        the error; retried later with the same task id).
    :param detail: the skip reason or the send error, else None.
    :param sent_at: when the message was written to the broker (None unless sent).
    :param lateness: seconds from ``occurrence`` to ``sent_at`` (None unless sent).

    What the worker reported (``beatcore_track_runs``; all None in a record without reports,
    such as every record written before the fields existed):

    :param status: the last report, one of ``RUN_STATUSES``.
    :param started_at: when the first attempt started.
    :param finished_at: when the last attempt ended (retried, succeeded or failed).
    :param runtime: seconds the last attempt ran.
    :param error: ``"ExceptionType: message"`` of a failed or retried attempt.
    :param worker: the host name of the worker that reported last.
    :param retries: how many attempts ended with a retry.
    """

    occurrence: datetime
    task_id: str
    outcome: str = attrs.field(validator=attrs.validators.in_(RUN_OUTCOMES))
    detail: str | None = None
    sent_at: datetime | None = None
    lateness: float | None = None
    status: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(RUN_STATUSES))
    )
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runtime: float | None = None
    error: str | None = None
    worker: str | None = None
    retries: int = 0

    @property
    def finished(self) -> bool:
        """True once the worker reported the run's end (succeeded or failed)."""
        return self.status in FINAL_STATUSES

    def to_json(self) -> str:
        """Return the JSON text a store keeps (read back with :meth:`from_json`).

        A field that is not set is left out, so a record without reports is byte for byte
        what releases before the worker fields wrote.
        """
        text = _record_text(self)
        if text is not None:
            return text
        data: dict[str, object] = {
            "v": 1,
            "occurrence": self.occurrence.isoformat(),
            "task_id": self.task_id,
            "outcome": self.outcome,
        }
        for key in ("detail", "status", "error", "worker"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        for key in ("sent_at", "started_at", "finished_at"):
            when = getattr(self, key)
            if when is not None:
                data[key] = when.isoformat()
        for key in ("lateness", "runtime"):
            seconds = getattr(self, key)
            if seconds is not None:
                data[key] = round(seconds, 6)
        if self.retries:
            data["retries"] = self.retries
        return SORTED_JSON.encode(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunRecord | None:
        """Return the record of :meth:`to_json` text, or None when it cannot be read."""
        try:
            data = json.loads(text)
            occurrence = _instant(data["occurrence"])
            retries = data.get("retries", 0)
            if type(retries) is not int or retries < 0:
                return None
            return cls(
                occurrence=occurrence,  # type: ignore[arg-type]
                task_id=str(data["task_id"]),
                outcome=str(data["outcome"]),
                detail=_optional_text(data.get("detail")),
                sent_at=_instant(data.get("sent_at")),
                lateness=_optional_seconds(data.get("lateness")),
                status=_optional_text(data.get("status")),
                started_at=_instant(data.get("started_at")),
                finished_at=_instant(data.get("finished_at")),
                runtime=_optional_seconds(data.get("runtime")),
                error=_optional_text(data.get("error")),
                worker=_optional_text(data.get("worker")),
                retries=retries,
            )
        except _UNREADABLE:
            return None


def _seconds_text(value: Any) -> str | None:
    """``round(value, 6)`` as the JSON encoder writes it, for a finite float; else None."""
    if type(value) is not float or value - value != 0.0:
        return None
    return float.__repr__(round(value, 6))


def _record_text(record: RunRecord) -> str | None:
    """Return :meth:`RunRecord.to_json` text written out field by field, in exactly the
    bytes the sorted JSON encoder gives its dict (every ack writes one per run), or None for
    a record with a value of another type than the usual ones (the encoder writes it)."""
    detail, error, status, worker = record.detail, record.error, record.status, record.worker
    task_id, outcome, retries = record.task_id, record.outcome, record.retries
    occurrence, sent_at = record.occurrence, record.sent_at
    started_at, finished_at = record.started_at, record.finished_at
    if not (
        type(task_id) is str
        and type(outcome) is str
        and type(retries) is int
        and type(occurrence) is datetime
        and (detail is None or type(detail) is str)
        and (error is None or type(error) is str)
        and (status is None or type(status) is str)
        and (worker is None or type(worker) is str)
        and (sent_at is None or type(sent_at) is datetime)
        and (started_at is None or type(started_at) is datetime)
        and (finished_at is None or type(finished_at) is datetime)
    ):
        return None
    parts = []  # in key order: the encoder sorts the keys
    if detail is not None:
        parts.append(f'"detail": {_quote(detail)}')
    if error is not None:
        parts.append(f'"error": {_quote(error)}')
    if finished_at is not None:
        parts.append(f'"finished_at": {_quote(finished_at.isoformat())}')
    if record.lateness is not None:
        lateness = _seconds_text(record.lateness)
        if lateness is None:
            return None
        parts.append(f'"lateness": {lateness}')
    parts.append(f'"occurrence": {_quote(instant_text(occurrence))}')
    parts.append(f'"outcome": {_quote(outcome)}')
    if retries:
        parts.append(f'"retries": {int.__repr__(retries)}')
    if record.runtime is not None:
        runtime = _seconds_text(record.runtime)
        if runtime is None:
            return None
        parts.append(f'"runtime": {runtime}')
    if sent_at is not None:
        parts.append(f'"sent_at": {_quote(sent_at.isoformat())}')
    if started_at is not None:
        parts.append(f'"started_at": {_quote(started_at.isoformat())}')
    if status is not None:
        parts.append(f'"status": {_quote(status)}')
    parts.append(f'"task_id": {_quote(task_id)}')
    parts.append('"v": 1')
    if worker is not None:
        parts.append(f'"worker": {_quote(worker)}')
    return "{" + ", ".join(parts) + "}"


@attrs.frozen
class RunOutcome:
    """What a worker reports of one run; :meth:`~beatcore.store.Store.record_outcome` takes it.

    Made by the worker side (``beatcore.tracking``) from the message headers beat adds.

    :param name: the entry (header ``beatcore_entry``).
    :param occurrence: the occurrence the run is of (header ``beatcore_occurrence``).
    :param task_id: the run's task id.
    :param status: one of ``RUN_STATUSES``.
    :param at: when the worker saw it (its clock).
    :param runtime: seconds the attempt ran (an end: retried, succeeded, failed), else None.
    :param error: ``"ExceptionType: message"`` of a failed or retried attempt, else None.
    :param worker: the worker's host name, or None.
    """

    name: str
    occurrence: datetime
    task_id: str
    status: str = attrs.field(validator=attrs.validators.in_(RUN_STATUSES))
    at: datetime
    runtime: float | None = None
    error: str | None = None
    worker: str | None = None

    @property
    def final(self) -> bool:
        """True when this report ends the run (succeeded or failed)."""
        return self.status in FINAL_STATUSES


@attrs.frozen
class Running:
    """The last run beat sent of an entry with an overlap policy (``skip``, ``buffer_one``).

    Written by :meth:`~beatcore.store.Store.ack` (``Ack.running``), kept up to date by
    :meth:`~beatcore.store.Store.record_outcome` and returned with the entry by
    :meth:`~beatcore.store.Store.claim_due` (``Claim.running``), in the claim's own round trip.

    :param task_id: the run's task id.
    :param occurrence: its occurrence.
    :param until: it blocks the entry's next occurrence until then, unless it ends first (a run
        that never reports back, its worker killed, stops blocking then).
    :param limit: seconds a sign of life (start, retry) moves ``until`` to, from its time.
    :param ended: the worker reported the run's end.
    :param held: ``buffer_one``: the occurrence waiting for this run to end, else None.
    """

    task_id: str
    occurrence: datetime
    until: datetime
    limit: float
    ended: bool = False
    held: datetime | None = None

    def blocks(self, now: datetime) -> bool:
        """True when the run still blocks at ``now``: it has not ended nor timed out."""
        return not self.ended and self.until > now

    def to_json(self) -> str:
        """Return the JSON text a store keeps (read back with :meth:`from_json`)."""
        data: dict[str, object] = {
            "v": 1,
            "task_id": self.task_id,
            "occurrence": self.occurrence.isoformat(),
            "until": self.until.isoformat(),
            "limit": self.limit,
            "ended": self.ended,
        }
        if self.held is not None:
            data["held"] = self.held.isoformat()
        return SORTED_JSON.encode(data)

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Running | None:
        """Return the value of :meth:`to_json` text, or None (no text, or unreadable)."""
        if text is None:
            return None
        try:
            data = json.loads(text)
            return cls(
                task_id=str(data["task_id"]),
                occurrence=_instant(data["occurrence"]),  # type: ignore[arg-type]
                until=_instant(data["until"]),  # type: ignore[arg-type]
                limit=float(data["limit"]),
                ended=data.get("ended") is True,
                held=_instant(data.get("held")),
            )
        except _UNREADABLE:
            return None
