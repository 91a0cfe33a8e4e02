"""Versioned JSON encoding of entries, states and schedules.

Every record carries ``"v": FORMAT_VERSION``. Reading a record that is not valid JSON, has an
unknown version, or names a schedule type no installed plugin provides raises
:class:`~beatcore.errors.CorruptRecord` naming the entry and the cause; stores catch it, report
the record and go on with the others. :func:`loads_entry` and :func:`loads_state` are the one
place where stored bytes are read, so whatever else bytes can provoke (nesting deeper than the
stack, numbers too large for an int, JSON values of the wrong type, text that is not UTF-8) is
a CorruptRecord too: nothing else leaves them (:mod:`beatcore.storekit` builds on that).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

import attrs

from beatcore.entry import Entry, EntryState, stored_name
from beatcore.errors import BeatcoreError, CorruptRecord, InvalidSchedule
from beatcore.plugins import get_plugins
from beatcore.schedules import Clocked, Crontab, Interval, Solar
from beatcore.schedules.base import ScheduleType
from beatcore.timeutil import isoformat, parse_isoformat

FORMAT_VERSION = 1

#: One encoder for every record: ``json.dumps`` with options builds a new one on each call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_DECODER = json.JSONDecoder()

#: The default of each optional Entry field, for records that leave it out (a factory's value
#: is shared: the Entry converters copy containers).
_DEFAULTS: dict[str, Any] = {
    field.name: field.default.factory()  # type: ignore[union-attr]
    if isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
    else field.default
    for field in attrs.fields(Entry)
}


_SHARED_TYPES = frozenset((Interval, Crontab, Solar, Clocked))
_SHARED_SCHEDULES_LIMIT = 4096
_shared_schedules: dict[tuple[Any, ...], ScheduleType] = {}


def schedule_to_dict(schedule: ScheduleType) -> dict[str, Any]:
    """Return ``{"type": type_name, **schedule.to_dict()}``."""
    return {"type": schedule.type_name, **schedule.to_dict()}


def schedule_from_dict(data: Mapping[str, Any]) -> ScheduleType:
    """Build a schedule from :func:`schedule_to_dict` output using the registered types.

    :raises UnknownScheduleType: the type's plugin is not installed.
    :raises InvalidSchedule: the fields are not valid for the type.
    """
    type_name = data.get("type")
    if not isinstance(type_name, str):
        raise InvalidSchedule(f"schedule record has no 'type': {dict(data)!r}")
    cls = get_plugins().schedule_type(type_name)
    if cls not in _SHARED_TYPES:
        fields = dict(data)
        del fields["type"]
        return cls.from_dict(fields)
    # beatcore's own types are immutable, and many entries share one schedule ("every hour"),
    # so a record's schedule is built once and shared (a bounded table, cleared when full).
    try:
        # value types are part of the key: 1, 1.0 and true are equal keys but not equal input
        key = (cls, *data.items(), *map(type, data.values()))
        shared = _shared_schedules.get(key)
    except TypeError:  # an unhashable field value: built as it is, then refused or not
        key, shared = None, None
    if shared is not None:
        return shared
    fields = dict(data)
    del fields["type"]
    schedule = cls.from_dict(fields)
    if key is not None:
        if len(_shared_schedules) >= _SHARED_SCHEDULES_LIMIT:
            _shared_schedules.clear()
        _shared_schedules[key] = schedule
    return schedule


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    """Return the JSON-compatible form of a definition, with the format version."""
    schedule = entry.schedule
    return {
        "v": FORMAT_VERSION,
        "name": entry.name,
        "schedule": {"type": schedule.type_name, **schedule.to_dict()},
        "task": entry.task,
        "args": list(entry.args),
        "kwargs": entry.kwargs,
        "options": entry.options,
        "enabled": entry.enabled,
        "tz": entry.tz,
        "max_runs": entry.max_runs,
        "catch_up": entry.catch_up,
        "misfire_grace": entry.misfire_grace,
        "jitter": entry.jitter,
        "static": entry.static,
        "start_at": isoformat(entry.start_at),
        "end_at": isoformat(entry.end_at),
    }


def entry_from_dict(data: Mapping[str, Any], name: str | None = None) -> Entry:
    """Build an Entry from :func:`entry_to_dict` output.

    :raises CorruptRecord: wrong version, missing field, invalid value, unknown schedule type.
    """
    label = name or str(data.get("name", "?"))
    _check_version(data, label)
    for required in ("name", "task", "schedule"):
        if required not in data:
            raise CorruptRecord(label, f"missing field {required!r}")
    get = data.get
    try:
        schedule = schedule_from_dict(data["schedule"])
        start_at = get("start_at")
        end_at = get("end_at")
        # Every field by keyword, an absent one as its Entry default (a plain call is
        # cheaper than building a dict of the fields present and unpacking it).
        return Entry(
            name=stored_name(data["name"]),  # a stored name may predate the name rule
            task=data["task"],
            schedule=schedule,
            args=get("args", _DEFAULTS["args"]),
            kwargs=get("kwargs", _DEFAULTS["kwargs"]),
            options=get("options", _DEFAULTS["options"]),
            enabled=get("enabled", _DEFAULTS["enabled"]),
            tz=get("tz", _DEFAULTS["tz"]),
            start_at=None if start_at is None else parse_isoformat(start_at, "start_at"),
            end_at=None if end_at is None else parse_isoformat(end_at, "end_at"),
            max_runs=get("max_runs", _DEFAULTS["max_runs"]),
            catch_up=get("catch_up", _DEFAULTS["catch_up"]),
            misfire_grace=get("misfire_grace", _DEFAULTS["misfire_grace"]),
            jitter=get("jitter", _DEFAULTS["jitter"]),
            static=get("static", _DEFAULTS["static"]),
        )
    except (BeatcoreError, TypeError, ValueError) as exc:
        raise CorruptRecord(label, str(exc)) from exc
    except Exception as exc:  # e.g. a plugin's from_dict: one record must not stop a tick
        raise CorruptRecord(label, f"{type(exc).__name__}: {exc}") from exc


def state_to_dict(state: EntryState) -> dict[str, Any]:
    """Return the JSON-compatible form of a state, with the format version."""
    return {
        "v": FORMAT_VERSION,
        "next_run_at": isoformat(state.next_run_at),
        "last_run_at": isoformat(state.last_run_at),
        "total_run_count": state.total_run_count,
        "skipped_run_count": state.skipped_run_count,
        "last_task_id": state.last_task_id,
        "last_error": state.last_error,
        "triggered_at": isoformat(state.triggered_at),
    }


def state_from_dict(data: Mapping[str, Any], name: str) -> EntryState:
    """Build an EntryState from :func:`state_to_dict` output.

    :raises CorruptRecord: wrong version or invalid value.
    """
    _check_version(data, name)
    get = data.get
    try:
        return EntryState(
            next_run_at=parse_isoformat(get("next_run_at"), "next_run_at"),
            last_run_at=parse_isoformat(get("last_run_at"), "last_run_at"),
            total_run_count=int(get("total_run_count", 0)),
            skipped_run_count=int(get("skipped_run_count", 0)),
            last_task_id=_optional_text(get("last_task_id"), "last_task_id"),
            last_error=_optional_text(get("last_error"), "last_error"),
            triggered_at=parse_isoformat(get("triggered_at"), "triggered_at"),
        )
    except (BeatcoreError, TypeError, ValueError) as exc:
        raise CorruptRecord(name, f"state: {exc}") from exc
    except Exception as exc:  # e.g. OverflowError: int(1e400); one record must not stop a tick
        raise CorruptRecord(name, f"state: {type(exc).__name__}: {exc}") from exc


def _optional_text(value: Any, what: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise TypeError(f"{what} must be a string or null, got a JSON {_json_type(value)}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else type(value).__name__


def dumps_entry(entry: Entry) -> str:
    """Encode a definition as compact JSON text.

    Called for every static entry at startup and every save. The bytes are those the JSON
    encoder gives :func:`entry_to_dict` (keys sorted); the top level is written out here so
    the encoder only runs for the values that need it (the schedule, non-empty containers).
    """
    schedule = entry.schedule
    return (
        f'{{"args":{_json_value(entry.args)}'
        f',"catch_up":{_json_value(entry.catch_up)}'
        f',"enabled":{_json_value(entry.enabled)}'
        f',"end_at":{_json_text(isoformat(entry.end_at))}'
        f',"jitter":{_json_value(entry.jitter)}'
        f',"kwargs":{_json_value(entry.kwargs)}'
        f',"max_runs":{_json_value(entry.max_runs)}'
        f',"misfire_grace":{_json_value(entry.misfire_grace)}'
        f',"name":{_json_value(entry.name)}'
        f',"options":{_json_value(entry.options)}'
        f',"schedule":{_ENCODER.encode({"type": schedule.type_name, **schedule.to_dict()})}'
        f',"start_at":{_json_text(isoformat(entry.start_at))}'
        f',"static":{_json_value(entry.static)}'
        f',"task":{_json_value(entry.task)}'
        f',"tz":{_json_value(entry.tz)}'
        f',"v":{FORMAT_VERSION}}}'
    )


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
    return _ENCODER.encode(value)


def loads_entry(text: str | bytes, name: str) -> Entry:
    """Decode a definition stored under ``name``; :class:`CorruptRecord` when unreadable."""
    entry = entry_from_dict(_loads(text, name), name)
    if entry.name != name:
        raise CorruptRecord(name, f"record holds entry {entry.name!r}, not {name!r}")
    return entry


def dumps_state(state: EntryState) -> str:
    """Encode a state as compact JSON text.

    Called for every ack and save. A state of the declared field types is written out
    directly, in the bytes the JSON encoder gives its :func:`state_to_dict` (keys sorted,
    strings quoted by the encoder's own function); anything else goes through the encoder.
    """
    total, skipped = state.total_run_count, state.skipped_run_count
    task, error = state.last_task_id, state.last_error
    if (
        type(total) is int
        and type(skipped) is int
        and (task is None or type(task) is str)
        and (error is None or type(error) is str)
    ):
        return (
            f'{{"last_error":{_json_text(error)}'
            f',"last_run_at":{_json_text(isoformat(state.last_run_at))}'
            f',"last_task_id":{_json_text(task)}'
            f',"next_run_at":{_json_text(isoformat(state.next_run_at))}'
            f',"skipped_run_count":{int.__repr__(skipped)}'
            f',"total_run_count":{int.__repr__(total)}'
            f',"triggered_at":{_json_text(isoformat(state.triggered_at))}'
            f',"v":{FORMAT_VERSION}}}'
        )
    return _ENCODER.encode(state_to_dict(state))


def _json_text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def loads_state(text: str | bytes, name: str) -> EntryState:
    """Decode the state of ``name``; :class:`CorruptRecord` when unreadable."""
    return state_from_dict(_loads(text, name), name)


def _loads(text: str | bytes, name: str) -> Mapping[str, Any]:
    try:
        if type(text) is bytes and text[:2] == b'{"':
            # What json.loads does with bytes that begin so (they are UTF-8), minus its
            # encoding detection: stores hand back bytes, two records per dispatched entry.
            data = _DECODER.decode(text.decode("utf-8", "surrogatepass"))
        else:
            data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CorruptRecord(name, f"not valid JSON ({exc})") from exc
    except RecursionError as exc:  # nesting deeper than the decoder's stack
        raise CorruptRecord(name, f"not valid JSON (nested too deeply: {exc})") from exc
    if not isinstance(data, dict):
        raise CorruptRecord(name, f"expected a JSON object, got {type(data).__name__}")
    return data


def _check_version(data: Mapping[str, Any], name: str) -> None:
    version = data.get("v")
    if version != FORMAT_VERSION:
        raise CorruptRecord(
            name,
            f"record format version {version!r} is not supported by this beatcore "
            f"(expected {FORMAT_VERSION}; written by a newer release?)",
        )
