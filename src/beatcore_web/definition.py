"""An entry's definition from what a person gave: the JSON API's body or the form's fields.

Both go through :func:`build_entry`, so the form and the API accept and refuse exactly the
same things; every refusal names the field (``task``, ``schedule.minute``) and the reason.
The checks are the core's own (Entry, the schedule type's ``from_dict``) and the CLI's (task
names, apply_async options, instants), never a copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
import click

from beatcore.cli.options import TASK_NAME, TaskOptions, parse_instant
from beatcore.entry import Entry
from beatcore.errors import InvalidEntry, InvalidSchedule, UnknownScheduleType
from beatcore.plugins import Plugins
from beatcore.schedules import ScheduleType

#: The fields of a definition a person may give, in the order the form shows them.
ENTRY_FIELDS = (
    "name",
    "task",
    "description",
    "schedule",
    "args",
    "kwargs",
    "options",
    "enabled",
    "tz",
    "start_at",
    "end_at",
    "max_runs",
    "catch_up",
    "misfire_grace",
    "jitter",
)
_JSON_FIELDS = ("args", "kwargs", "options")
_INSTANTS = ("start_at", "end_at")
_OPTIONS = TaskOptions()
_QUOTED = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)'")


class Invalid(Exception):
    """What was given is not a valid definition: ``errors`` maps each bad field to why."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {why}" for field, why in self.errors.items()))


def schedule_fields(cls: type[ScheduleType]) -> tuple[str, ...]:
    """Return the fields the form shows for a schedule type (its optional ``field_names``).

    A type without them is given as one JSON object (the field ``json``).
    """
    names = getattr(cls, "field_names", None)
    if isinstance(names, tuple) and names and all(isinstance(n, str) for n in names):
        return tuple(str(n) for n in names)
    return ("json",)


def _field_of(message: str, candidates: tuple[str, ...], default: str) -> str:
    """Return which of ``candidates`` an error message is about (named first, or quoted)."""
    first = message.split(" ", 1)[0]
    if first in candidates:
        return first
    if message.startswith("entry name"):
        return "name"
    for quoted in _QUOTED.finditer(message):
        if quoted.group(1) in candidates:
            return quoted.group(1)
    return default


def build_schedule(plugins: Plugins, data: object) -> ScheduleType:
    """Return the schedule of ``{"type": ..., field: value, ...}``.

    :raises Invalid: naming ``schedule.type`` or the schedule field that is wrong.
    """
    if not isinstance(data, Mapping):
        raise Invalid({"schedule": "must be an object with a 'type' and the type's fields"})
    type_name = data.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise Invalid(
            {"schedule.type": "missing: give one of " + ", ".join(sorted(plugins.schedule_types()))}
        )
    try:
        cls = plugins.schedule_type(type_name)
    except UnknownScheduleType as exc:
        raise Invalid({"schedule.type": str(exc)}) from None
    fields = {key: value for key, value in data.items() if key != "type"}
    try:
        return cls.from_dict(fields)
    except InvalidSchedule as exc:
        where = _field_of(str(exc), tuple(fields) + schedule_fields(cls), "")
        raise Invalid({f"schedule.{where}" if where else "schedule": str(exc)}) from None
    except Exception as exc:  # a plugin's own error: still the person's input, not ours
        raise Invalid({"schedule": f"{type(exc).__name__}: {exc}"}) from None


def _instant(value: object, field: str, tz_name: str, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise Invalid({field: f"must be an ISO 8601 date and time, got {value!r}"})
    try:
        return parse_instant(value, field, tz_name, now)
    except click.BadParameter as exc:
        raise Invalid({field: exc.message}) from None


def build_entry(
    plugins: Plugins,
    data: Mapping[str, Any],
    *,
    base: Entry | None,
    default_tz: str,
    now: datetime,
) -> Entry:
    """Return the definition ``data`` gives: a new entry, or ``base`` with those fields changed.

    Called by the API's create and edit and by the form. Fields left out keep ``base``'s
    value (or the default of a new entry); ``name`` cannot change on an edit.

    :raises Invalid: every field found wrong, each with the reason.
    """
    unknown = sorted(set(data) - set(ENTRY_FIELDS))
    errors: dict[str, str] = {
        key: f"unknown field (the fields are {', '.join(ENTRY_FIELDS)})" for key in unknown
    }
    values: dict[str, Any] = {}
    if base is not None and "name" in data and data["name"] != base.name:
        errors["name"] = f"cannot be changed (the entry is {base.name!r}); add a new entry"
    if base is None:
        for required in ("name", "task", "schedule"):
            if data.get(required) in (None, ""):
                errors[required] = "required"
    if "task" in data and data["task"] not in (None, ""):
        try:
            values["task"] = TASK_NAME.convert(data["task"], None, None)
        except click.BadParameter as exc:
            errors["task"] = exc.message
    if data.get("schedule") not in (None, ""):
        try:
            values["schedule"] = build_schedule(plugins, data["schedule"])
        except Invalid as exc:
            errors.update(exc.errors)
    if data.get("options") is not None and isinstance(data["options"], Mapping):
        try:
            _OPTIONS.convert(json.dumps(data["options"]), None, None)
        except click.BadParameter as exc:
            errors["options"] = exc.message
    tz_name = data.get("tz") or (base.tz if base is not None else None) or default_tz
    for field in _INSTANTS:
        if field in data:
            try:
                values[field] = _instant(data[field], field, str(tz_name), now)
            except Invalid as exc:
                errors.update(exc.errors)
    for field in ENTRY_FIELDS:
        if field in data and field not in values and field not in errors and field != "schedule":
            values[field] = data[field]
    if errors:
        raise Invalid(errors)
    for field in ("description", "tz"):
        if values.get(field) == "":
            values[field] = None
    try:
        if base is not None:
            values.pop("name", None)
            return attrs.evolve(base, **values)
        return Entry(**values)
    except (InvalidEntry, InvalidSchedule, TypeError, ValueError) as exc:
        raise Invalid({_field_of(str(exc), ENTRY_FIELDS, "entry"): str(exc)}) from None


def _form_value(text: str) -> Any:
    """A schedule field as typed: JSON where it reads as JSON (``300``, ``true``), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def definition_from_form(form: Mapping[str, str], plugins: Plugins) -> dict[str, Any]:
    """Return the API body a submitted form stands for (the same keys as the JSON API).

    The schedule's fields are ``schedule.TYPE.FIELD`` (each type has its own). Empty fields
    are left out (an edit keeps them; a new entry gets the default), the
    JSON fields are parsed, ``enabled`` is its checkbox.

    :raises Invalid: a JSON field that is not JSON, or a schedule given as bad JSON.
    """
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in ("name", "task", "description", "tz", "catch_up", "start_at", "end_at"):
        value = form.get(field, "").strip()
        if value or field in ("description", "start_at", "end_at", "tz"):
            data[field] = value
    for field in ("max_runs", "misfire_grace", "jitter"):
        value = form.get(field, "").strip()
        if value:
            parsed = _form_value(value)
            data[field] = parsed
        elif field != "jitter":
            data[field] = None
    for field in _JSON_FIELDS:
        value = form.get(field, "").strip()
        if value:
            try:
                data[field] = json.loads(value)
            except ValueError as exc:
                errors[field] = f"is not JSON: {exc}"
    data["enabled"] = form.get("enabled") == "on"
    type_name = form.get("schedule.type", "")
    schedule: dict[str, Any] = {"type": type_name}
    try:
        names = schedule_fields(plugins.schedule_type(type_name))
    except UnknownScheduleType:
        names = ()
    for name in names:
        value = form.get(f"schedule.{type_name}.{name}", "").strip()
        if name == "json" and value:
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                errors["schedule.json"] = f"is not JSON: {exc}"
                continue
            if isinstance(parsed, dict):
                schedule.update({k: v for k, v in parsed.items() if k != "type"})
            else:
                errors["schedule.json"] = "must be a JSON object of the schedule's fields"
        elif value:
            schedule[name] = _form_value(value)
    data["schedule"] = schedule
    if errors:
        raise Invalid(errors)
    return data
