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
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

import attrs

from beatcore.entry import Entry, EntryState, stored_name
from beatcore.entry_copies import field_values, renamed
from beatcore.errors import BeatcoreError, CorruptRecord, InvalidSchedule
from beatcore.plugins import get_plugins, on_schedule_types_changed
from beatcore.record_text import ENTRY_OMITTED_DEFAULTS as ENTRY_OMITTED_DEFAULTS
from beatcore.record_text import FORMAT_VERSION as FORMAT_VERSION
from beatcore.record_text import STATE_OMITTED_DEFAULTS as STATE_OMITTED_DEFAULTS
from beatcore.record_text import dumps_entry as dumps_entry  # written there, read here
from beatcore.record_text import dumps_state as dumps_state
from beatcore.record_text import stored_dict as stored_dict
from beatcore.schedules.base import ScheduleType
from beatcore.schedules.shared import is_shared, shared_schedule
from beatcore.state_text import read_written
from beatcore.timeutil import isoformat, parse_isoformat

_DECODER = json.JSONDecoder()

#: The default of each optional Entry field, for records that leave it out (a factory's value
#: is shared: the Entry converters copy containers).
_DEFAULTS = ENTRY_OMITTED_DEFAULTS


def schedule_to_dict(schedule: ScheduleType) -> dict[str, Any]:
    """Return ``{"type": type_name, **schedule.to_dict()}``."""
    return {"type": schedule.type_name, **schedule.to_dict()}


def schedule_from_dict(data: Mapping[str, Any]) -> ScheduleType:
    """Build a schedule from :func:`schedule_to_dict` output using the registered types.

    A built-in type's schedule is the one shared object for those fields
    (:func:`beatcore.schedules.shared.shared_schedule`).

    :raises UnknownScheduleType: the type's plugin is not installed.
    :raises InvalidSchedule: the fields are not valid for the type.
    """
    type_name = data.get("type")
    if not isinstance(type_name, str):
        raise InvalidSchedule(f"schedule record has no 'type': {dict(data)!r}")
    return shared_schedule(get_plugins().schedule_type(type_name), data)


@attrs.frozen
class _Field:
    """One field of a record, as :func:`entry_to_dict`/:func:`state_to_dict` write it.

    :param name: the attribute and the JSON key.
    :param to_json: turns the attribute into its JSON value (None: as it is).
    :param from_json: turns the stored value (or the default) back, given the field name
        for its error messages when ``named`` (None: as it is, the Entry converters and
        validators judge). An optional field whose default is None must turn None into None:
        its null (or absent) value is None without the call.
    :param required: a record without it is unreadable.
    :param default: the value of an absent optional field.
    :param named: ``from_json`` takes the field name as its second argument.
    """

    name: str
    to_json: Callable[[Any], Any] | None = None
    from_json: Callable[..., Any] | None = None
    required: bool = False
    default: Any = None
    named: bool = True


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


#: The fields of a definition record, in the order :func:`entry_to_dict` writes them.
ENTRY_FIELDS: tuple[_Field, ...] = (
    # a stored name may predate the name rule (see beatcore.entry.stored_name)
    _Field("name", from_json=stored_name, required=True, named=False),
    _Field("schedule", schedule_to_dict, schedule_from_dict, True, named=False),
    _Field("task", required=True),
    *(
        _Field(name, list if name == "args" else None, default=_DEFAULTS[name])
        for name in ("args", "kwargs", "options", "enabled", "tz", "max_runs", "catch_up")
    ),
    *(_Field(name, default=_DEFAULTS[name]) for name in ("misfire_grace", "jitter", "static")),
    _Field("start_at", isoformat, parse_isoformat),
    _Field("end_at", isoformat, parse_isoformat),
    # written only when set (see entry_to_dict); absent in records from before the field
    _Field("description"),
    # written only when not the default (see entry_to_dict), as description
    _Field("overlap", default=_DEFAULTS["overlap"]),
    _Field("overlap_timeout"),
)
_REQUIRED = tuple(field.name for field in ENTRY_FIELDS if field.required)

#: The fields of a state record, in the order :func:`state_to_dict` writes them.
STATE_FIELDS: tuple[_Field, ...] = (
    _Field("next_run_at", isoformat, parse_isoformat),
    _Field("last_run_at", isoformat, parse_isoformat),
    _Field("total_run_count", from_json=int, default=0, named=False),
    _Field("skipped_run_count", from_json=int, default=0, named=False),
    _Field("last_task_id", from_json=_optional_text),
    _Field("last_error", from_json=_optional_text),
    _Field("triggered_at", isoformat, parse_isoformat),
)


def _compile(fields: tuple[_Field, ...], make: type[Any], direction: str) -> Callable[[Any], Any]:
    """Build the function that reads (``direction="from"``) or writes (``"to"``) one record
    from the table, as straight-line code: one call with every field by keyword (as attrs
    builds its ``__init__``), or by position when the table is in the class's field order
    (a third cheaper), so the table costs nothing on the two reads of every claimed entry.
    Fields are read and converted in table order, so errors are those of the fields in that
    order."""
    scope: dict[str, Any] = {"make": make, "version": FORMAT_VERSION}
    by_position = [f.name for f in fields] == [a.name for a in attrs.fields(make)]
    parts = []
    for i, field in enumerate(fields):
        key = field.name
        if direction == "from":
            value = f"data[{key!r}]" if field.required else f"get({key!r}, default{i})"
            if field.from_json is not None:
                call = f"convert{i}({{}}, {key!r})" if field.named else f"convert{i}({{}})"
                if field.required or field.default is not None:
                    value = call.format(value)
                else:  # the usual null (a start_at, a last_error) costs no call
                    value = f"None if (value{i} := {value}) is None else {call.format(f'value{i}')}"
            parts.append(value if by_position else f"{key}={value}")
            scope[f"default{i}"], scope[f"convert{i}"] = field.default, field.from_json
        else:
            value = f"obj.{key}" if field.to_json is None else f"convert{i}(obj.{key})"
            parts.append(f"{key!r}: {value}")
            scope[f"convert{i}"] = field.to_json
    if direction == "from":
        source = f"def build(data):\n    get = data.get\n    return make({', '.join(parts)})\n"
    else:
        source = f"def build(obj):\n    return {{'v': version, {', '.join(parts)}}}\n"
    exec(compile(source, f"<beatcore.serializer {make.__name__} {direction} dict>", "exec"), scope)
    built: Callable[[Any], Any] = scope["build"]
    return built


_entry_from_dict = _compile(ENTRY_FIELDS, Entry, "from")
_entry_to_dict = _compile(ENTRY_FIELDS, Entry, "to")
_state_from_dict = _compile(STATE_FIELDS, EntryState, "from")
_state_to_dict = _compile(STATE_FIELDS, EntryState, "to")


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    """Return the JSON-compatible form of a definition, with the format version.

    ``description``, ``overlap`` and ``overlap_timeout`` are present only when not their
    defaults, so the record of an entry without them is byte for byte what releases before
    those fields wrote.
    """
    data: dict[str, Any] = _entry_to_dict(entry)
    if data["description"] is None:
        del data["description"]
    if data["overlap"] == "allow":
        del data["overlap"]
    if data["overlap_timeout"] is None:
        del data["overlap_timeout"]
    return data


def entry_from_dict(data: Mapping[str, Any], name: str | None = None) -> Entry:
    """Build an Entry from :func:`entry_to_dict` output.

    :raises CorruptRecord: wrong version, missing field, invalid value, unknown schedule type.
    """
    label = name or str(data.get("name", "?"))
    _check_version(data, label)
    for required in _REQUIRED:
        if required not in data:
            raise CorruptRecord(label, f"missing field {required!r}")
    try:
        return _entry_from_dict(data)  # type: ignore[no-any-return]
    except (BeatcoreError, TypeError, ValueError) as exc:
        raise CorruptRecord(label, str(exc)) from exc
    except Exception as exc:  # e.g. a plugin's from_dict: one record must not stop a tick
        raise CorruptRecord(label, f"{type(exc).__name__}: {exc}") from exc


def state_to_dict(state: EntryState) -> dict[str, Any]:
    """Return the JSON-compatible form of a state, with the format version."""
    return _state_to_dict(state)  # type: ignore[no-any-return]


def state_from_dict(data: Mapping[str, Any], name: str) -> EntryState:
    """Build an EntryState from :func:`state_to_dict` output.

    :raises CorruptRecord: wrong version or invalid value.
    """
    _check_version(data, name)
    try:
        return _state_from_dict(data)  # type: ignore[no-any-return]
    except (BeatcoreError, TypeError, ValueError) as exc:
        raise CorruptRecord(name, f"state: {exc}") from exc
    except Exception as exc:  # e.g. OverflowError: int(1e400); one record must not stop a tick
        raise CorruptRecord(name, f"state: {type(exc).__name__}: {exc}") from exc


def loads_entry(text: str | bytes, name: str) -> Entry:
    """Decode a definition stored under ``name``; :class:`CorruptRecord` when unreadable.

    A definition that differs from two read before only in its name (entries made from
    one template: one schedule per customer, a midnight burst) is built from the fields
    decoded then (see ``_from_template``): the same Entry, checked the same way.
    """
    entry = _from_template(text, name)
    if entry is not None:
        return entry
    return _decode_entry(text, name)


def _decode_entry(text: str | bytes, name: str) -> Entry:
    entry = entry_from_dict(_loads(text, name), name)
    if entry.name != name:
        raise CorruptRecord(name, f"record holds entry {entry.name!r}, not {name!r}")
    return entry


#: The field values (:func:`~beatcore.entry_copies.field_values`) of each definition text
#: read twice, by the text before and after its ``"name":...`` member; None for a text that
#: is not a template (see _template).
_TEMPLATES: dict[tuple[str | bytes, str | bytes], tuple[Any, ...] | None] = {}
#: The hashes of the keys of _TEMPLATES read once so far. A text is proven a template (one
#: more decode) only when it comes again: entries that differ in more than their name (one
#: schedule per customer with the customer in ``args``) never do, and each would pay the
#: proof for nothing. A hash, so the set stays small; two keys that share one only make the
#: second proven at its first read.
_SEEN_ONCE: set[int] = set()
#: Most templates and texts read once kept (each table starts again empty past it), and the
#: longest text kept.
TEMPLATES_LIMIT = 1024
SEEN_ONCE_LIMIT = 8192
TEMPLATE_TEXT_LIMIT = 4096
#: Two names that no one template text can hold both of as its entry's name.
_PLACEHOLDERS = ("beatcore template a", "beatcore template b")
_NOT_SEEN: Any = object()


on_schedule_types_changed(_TEMPLATES.clear)  # a plugin came or went: stale schedules


def _from_template(text: str | bytes, name: str) -> Entry | None:
    """Return the definition ``text`` of ``name``: built from its template's fields when
    the template is known, else decoded (then the template is proven on its second read);
    None when the text has no template (the caller decodes it then).

    The template of a text is the text with its ``"name":"<name>"`` member left out, as the
    serializer writes it (compact, ASCII): every text with that template is one JSON
    document whose entry name is the one string at that place (:func:`_template` proves it
    once per template), so its Entry is the template's, checked when it was read, under
    ``name``, which passes the name rule's quick test here. A name that is not plain
    printable text is decoded the long way (stored names from before the name rule), and
    so is a text that names no entry ``name`` in the serializer's form.

    :raises CorruptRecord: the text was decoded here and is unreadable.
    """
    if not (type(name) is str and name.isprintable() and name.strip()):  # see renamed
        return None
    if type(text) is bytes:
        marker: str | bytes = b'"name":' + _quote(name).encode()
    elif type(text) is str:
        marker = '"name":' + _quote(name)
    else:
        return None
    at = text.find(marker)  # type: ignore[arg-type]
    if at < 0 or len(text) > TEMPLATE_TEXT_LIMIT:
        return None
    key = (text[:at], text[at + len(marker) :])
    fields = _TEMPLATES.get(key, _NOT_SEEN)
    if fields is not _NOT_SEEN:
        return None if fields is None else renamed(fields, name)
    entry = _decode_entry(text, name)  # CorruptRecord as the long way raises it
    seen = hash(key)
    if seen not in _SEEN_ONCE:
        if len(_SEEN_ONCE) >= SEEN_ONCE_LIMIT:
            _SEEN_ONCE.clear()
        _SEEN_ONCE.add(seen)
        return entry
    _SEEN_ONCE.discard(seen)
    if len(_TEMPLATES) >= TEMPLATES_LIMIT:
        _TEMPLATES.clear()
    _TEMPLATES[key] = _template(entry, *key)
    return entry


def _template(entry: Entry, before: str | bytes, after: str | bytes) -> tuple[Any, ...] | None:
    """Return the field values of the definition ``before + member + after`` whose
    ``member`` is ``"name":"<entry's name>"`` and which reads as ``entry``, or None when
    that text is no template.

    It is one when it also reads with a placeholder as the member's name and gives that
    back as its entry's name: the name is then the string at that place (no other member of
    the text can hold both names), and the rest of the text, the same bytes, decodes to the
    same fields. It must also hold only values an Entry may share with other entries: a
    schedule of a shared type, and args, kwargs and options of plain values (Entry copies
    the dicts).
    """
    values = (*entry.args, *entry.kwargs.values(), *entry.options.values())
    if not is_shared(entry.schedule) or not all(type(value) in _PLAIN for value in values):
        return None
    placeholder = _PLACEHOLDERS[entry.name == _PLACEHOLDERS[0]]
    member = '"name":' + _quote(placeholder)
    text = before + (member.encode() if type(before) is bytes else member) + after  # type: ignore[operator]
    try:
        _decode_entry(text, placeholder)
    except CorruptRecord:
        return None
    return field_values(entry)


_PLAIN = (str, int, float, bool, type(None))


#: The state of each state text read lately (bounded: cleared past STATES_LIMIT; texts
#: longer than STATE_TEXT_LIMIT are not kept).
_STATES: dict[str | bytes, EntryState] = {}
STATES_LIMIT, STATE_TEXT_LIMIT = 4096, 1024


def loads_state(text: str | bytes, name: str) -> EntryState:
    """Decode the state of ``name``; :class:`CorruptRecord` when unreadable.

    Entries due together often share their state's text (a midnight burst), and a state is
    immutable and names no entry: a text read before gives the state it gave then (an
    unreadable text is never kept: its error names the entry). A text new to the table in
    the form the store writes is read without the JSON decoder
    (``beatcore.state_text.read_written``: the same state); any other the full way.
    """
    if not (type(text) is bytes or type(text) is str):
        return state_from_dict(_loads(text, name), name)
    state = _STATES.get(text)
    if state is None:
        state = read_written(text)  # the store's own form, without the JSON decoder
        if state is None:
            state = state_from_dict(_loads(text, name), name)
        if len(text) <= STATE_TEXT_LIMIT:
            if len(_STATES) >= STATES_LIMIT:
                _STATES.clear()
            _STATES[text] = state
    return state


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
