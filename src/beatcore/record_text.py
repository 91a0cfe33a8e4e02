"""The stored text of definitions and states: compact JSON, the fields at their default left out.

:mod:`beatcore.serializer` reads records and re-exports these writers; they live apart
because every save, static sync and ack writes through them, so they are written out field
by field (no dict, no encoder for the plain values) in exactly the bytes the JSON encoder
would give ``stored_dict`` of the serializer's dicts (keys sorted, compact separators).
A record leaves out each optional field at its default: every reader (this release's and the
earlier ones) gives an absent field its default, so records written with every field, as
releases before wrote them, read the same, and records written now read in those releases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from json.encoder import c_make_encoder  # type: ignore[attr-defined]
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

import attrs

from beatcore.entry import Entry, EntryState
from beatcore.schedules.shared import BUILT_IN_TYPES
from beatcore.timeutil import isoformat

FORMAT_VERSION = 1

#: One encoder for every record: ``json.dumps`` with options builds a new one on each call.
ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_ENCODER = ENCODER

_CONTAINERS = (tuple, list, dict)


def _is_default(value: Any, default: Any) -> bool:
    """True when a stored record may leave a field of this value out (read back as
    ``default``): None for None, an empty container for an empty one, else an equal value
    of the very same type (so ``0`` is written where the default is ``0.0``)."""
    if default is None:
        return value is None
    if type(default) in _CONTAINERS:
        return type(value) in _CONTAINERS and not value
    return type(value) is type(default) and value == default


def _defaults(cls: type[Any], names: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {
        field.name: field.default.factory()
        if isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
        else field.default
        for field in attrs.fields(cls)
        if field.default is not attrs.NOTHING and (names is None or field.name in names)
    }


_STATE_INSTANTS = ("next_run_at", "last_run_at", "triggered_at")
_STATE_NAMES = (*_STATE_INSTANTS, "total_run_count", "skipped_run_count", "last_task_id",
                "last_error")  # fmt: skip

#: The optional fields a stored record leaves out at their default (a reader, this release's
#: or an earlier one, gives an absent field its default), with those defaults.
ENTRY_OMITTED_DEFAULTS: dict[str, Any] = _defaults(Entry)
STATE_OMITTED_DEFAULTS: dict[str, Any] = _defaults(EntryState, _STATE_NAMES)


def stored_dict(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Return a record's dict (:func:`beatcore.serializer.entry_to_dict` output with
    :data:`ENTRY_OMITTED_DEFAULTS`, or ``state_to_dict`` with :data:`STATE_OMITTED_DEFAULTS`)
    as it is stored: the fields at their default left out. :func:`dumps_entry` and
    :func:`dumps_state` write it."""
    return {
        key: value
        for key, value in data.items()
        if key not in defaults or not _is_default(value, defaults[key])
    }


def dumps_entry(entry: Entry) -> str:
    """Encode a definition as compact JSON text.

    Called for every static entry at startup and every save. The bytes are those the JSON
    encoder gives ``stored_dict`` of ``entry_to_dict`` (keys sorted, the fields at their
    default left out: an hourly entry's record is about 90 bytes, not 270); the top
    level is written out here so the encoder only runs for the values that need it (the
    schedule's nested values, non-empty containers). Records with every field, as releases
    before wrote them, read the same.
    """
    before, after = definition_halves(entry)
    return before + _json_value(entry.name) + after


def definition_halves(entry: Entry) -> tuple[str, str]:
    """Return the text :func:`dumps_entry` writes for ``entry`` before and after the value
    of its ``"name"`` member (the name's JSON string goes between them).

    Called by :func:`dumps_entry`, and once per template by :mod:`beatcore.entry_templates`,
    whose definitions differ only in their name.
    """
    schedule = entry.schedule
    args, kwargs, options = entry.args, entry.kwargs, entry.options
    catch_up, enabled, jitter = entry.catch_up, entry.enabled, entry.jitter
    parts = []
    if not (type(args) in _CONTAINERS and not args):
        parts.append(f'"args":{_json_value(args)}')
    if not (type(catch_up) is str and catch_up == "latest"):
        parts.append(f'"catch_up":{_json_value(catch_up)}')
    if entry.description is not None:
        parts.append(f'"description":{_json_value(entry.description)}')
    if enabled is not True:
        parts.append(f'"enabled":{_json_value(enabled)}')
    if entry.end_at is not None:
        parts.append(f'"end_at":{_json_text(isoformat(entry.end_at))}')
    if not (type(jitter) is float and jitter == 0.0):
        parts.append(f'"jitter":{_json_value(jitter)}')
    if not (type(kwargs) in _CONTAINERS and not kwargs):
        parts.append(f'"kwargs":{_json_value(kwargs)}')
    if entry.max_runs is not None:
        parts.append(f'"max_runs":{_json_value(entry.max_runs)}')
    if entry.misfire_grace is not None:
        parts.append(f'"misfire_grace":{_json_value(entry.misfire_grace)}')
    parts.append('"name":')
    before = "{" + ",".join(parts)
    parts = [""]
    if not (type(options) in _CONTAINERS and not options):
        parts.append(f'"options":{_json_value(options)}')
    if not (type(entry.overlap) is str and entry.overlap == "allow"):
        parts.append(f'"overlap":{_json_value(entry.overlap)}')
    if entry.overlap_timeout is not None:
        parts.append(f'"overlap_timeout":{_json_value(entry.overlap_timeout)}')
    parts.append(f'"schedule":{_schedule_text(schedule)}')
    if entry.start_at is not None:
        parts.append(f'"start_at":{_json_text(isoformat(entry.start_at))}')
    if entry.static is not False:
        parts.append(f'"static":{_json_value(entry.static)}')
    parts.append(f'"task":{_json_value(entry.task)}')
    if entry.tz is not None:
        parts.append(f'"tz":{_json_value(entry.tz)}')
    return before, ",".join(parts) + f',"v":{FORMAT_VERSION}}}'


#: The encoder's C function for values it writes in one pass: the JSON encoder builds it
#: anew for every call of ``encode`` (most of the cost of a schedule's small dict).
_C_ENCODE = (
    None
    if c_make_encoder is None
    else c_make_encoder(None, ENCODER.default, _quote, None, ":", ",", True, False, True)
)


def _schedule_text(schedule: Any) -> str:
    """Return ``schedule``'s dict (with its type) as :data:`ENCODER` writes it.

    A built-in schedule's dict is flat and has no cycle, so the encoder's C function made
    once writes it (the same bytes: the same options, without the cycle check); any other
    goes through :data:`ENCODER`.
    """
    data = {"type": schedule.type_name, **schedule.to_dict()}
    if _C_ENCODE is None or type(schedule) not in BUILT_IN_TYPES:
        return _ENCODER.encode(data)
    return "".join(_C_ENCODE(data, 0))


def _json_value(value: Any) -> str:
    """Return ``value`` as the JSON encoder writes it (it writes what this does not know)."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is str:
        return _quote(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and value - value == 0.0:  # finite: NaN and infinities are the encoder's
        return float.__repr__(value)
    if (kind is tuple or kind is list) and not value:
        return "[]"
    if kind is dict and not value:
        return "{}"
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    try:
        # an entry's values were checked when it was made (no cycle, at most 100 levels),
        # so the encoder's C function made once writes them without the cycle check
        return "".join(_C_ENCODE(value, 0))
    except RecursionError:  # a value changed in place since: the encoder's error names it
        return _ENCODER.encode(value)


def dumps_state(state: EntryState) -> str:
    """Encode a state as compact JSON text.

    Called for every ack and save. A state of the declared field types is written out
    directly, in the bytes the JSON encoder gives ``stored_dict`` of its
    ``state_to_dict`` (keys sorted, strings quoted by the encoder's own function, the fields
    at their default left out: a state that only knows its next run is
    ``{"next_run_at":"...","v":1}``); anything else goes through the encoder.
    """
    total, skipped = state.total_run_count, state.skipped_run_count
    task, error = state.last_task_id, state.last_error
    if not (
        type(total) is int
        and type(skipped) is int
        and (task is None or type(task) is str)
        and (error is None or type(error) is str)
    ):
        data: dict[str, Any] = {"v": FORMAT_VERSION}
        for name in _STATE_NAMES:
            value = getattr(state, name)
            data[name] = isoformat(value) if name in _STATE_INSTANTS else value
        return _ENCODER.encode(stored_dict(data, STATE_OMITTED_DEFAULTS))
    run = state.last_run_at
    if task is not None:
        key = (error, run is None, state.next_run_at, skipped, total, state.triggered_at)
        last = _last_state
        if last[0] == key:
            return _with_holes(last[1], run, task, last[2])
    head = []  # the members before last_run_at, then those after last_task_id
    if error is not None:
        head.append(f'"last_error":{_quote(error)}')
    tail = []
    if state.next_run_at is not None:
        tail.append(f'"next_run_at":{_json_text(isoformat(state.next_run_at))}')
    if skipped != 0:
        tail.append(f'"skipped_run_count":{int.__repr__(skipped)}')
    if total != 0:
        tail.append(f'"total_run_count":{int.__repr__(total)}')
    if state.triggered_at is not None:
        tail.append(f'"triggered_at":{_json_text(isoformat(state.triggered_at))}')
    tail.append(f'"v":{FORMAT_VERSION}')
    if task is None:
        if run is not None:
            head.append(f'"last_run_at":{_json_text(isoformat(run))}')
        return "{" + ",".join((*head, *tail)) + "}"
    before = "{" + ",".join((*head, '"last_run_at":' if run is not None else '"last_task_id":'))
    after = "," + ",".join(tail) + "}"
    _remember_state(key, before, after)
    return _with_holes(before, run, task, after)


def _with_holes(before: str, run: datetime | None, task: str, after: str) -> str:
    """The text of a state with a task id: ``before`` (up to the name of its first hole),
    its last run (when it has one), its task id, then ``after``."""
    global _last_run
    if run is None:
        return f"{before}{_quote(task)}{after}"
    last = _last_run
    if last[0] == run:  # equal instants, in any zone, have one (UTC) text
        middle = last[1]
    else:
        middle = f'{_json_text(isoformat(run))},"last_task_id":'
        _last_run = (run, middle)
    return f"{before}{middle}{_quote(task)}{after}"


#: The last run :func:`_with_holes` wrote, and its text up to the task id's.
_last_run: tuple[datetime | None, str] = (None, "")


#: The last state :func:`dumps_state` wrote with a task id: its other values, and its text
#: before its holes (last run, task id) and after them. The states of one ack (a midnight
#: burst, a tick's page) differ in those alone; equal values write the same text.
_last_state: tuple[tuple[Any, ...], str, str] = ((), "", "")


def _remember_state(key: tuple[Any, ...], before: str, after: str) -> None:
    global _last_state
    _last_state = (key, before, after)


def _json_text(value: str | None) -> str:
    return "null" if value is None else _quote(value)
