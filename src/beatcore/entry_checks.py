"""Each field's check of :class:`~beatcore.entry.Entry` and
:class:`~beatcore.entry.EntryState`: the error naming the field, the entry and the value.

Called in field order by the constructors when their quick test of the usual values fails
(see :mod:`beatcore.entry`); each takes the object being built, the field and its value
(after the field's converter), as an attrs validator does, and raises
:class:`~beatcore.errors.InvalidEntry` (or :class:`~beatcore.errors.InvalidSchedule` for an
instant a datetime cannot hold in UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import attrs

from beatcore.errors import InvalidEntry, InvalidSchedule
from beatcore.field_converters import StoredName
from beatcore.schedules.base import is_schedule
from beatcore.timeutil import UTC, zone
from beatcore.values import is_integer, is_number, json_problem, line_breaking, shown

CatchUp = Literal["latest", "all", "skip"]
CATCH_UP_POLICIES: tuple[CatchUp, ...] = ("latest", "all", "skip")
Overlap = Literal["allow", "skip", "buffer_one"]
OVERLAP_POLICIES: tuple[Overlap, ...] = ("allow", "skip", "buffer_one")


#: The most seconds a jitter or misfire grace may be: what a timedelta holds.
MAX_SECONDS = timedelta.max.days * 86400 + timedelta.max.seconds
#: The most a count (``max_runs``, the run counters) may be: a signed 64-bit integer, which
#: every store can hold in an integer column.
MAX_COUNT = 2**63 - 1


def check_json(what: str, kind: type) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not kind:
            expected = "a list or tuple" if kind is tuple else "a mapping"
            raise InvalidEntry(
                f"{what} of entry {instance.name!r} must be {expected}, got "
                f"{type(value).__name__} {shown(value)}"
            )
        if not value:
            return
        problem = json_problem(value)
        if problem is not None:
            raise InvalidEntry(
                f"{what} of entry {instance.name!r} must be JSON-serializable: {problem} (JSON "
                "values are lists, dicts with str keys, str, int, finite float, bool and None)"
            )

    return check


def check_name(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(f"entry name must be a non-empty string, got {shown(value)}")
    if type(value) is not StoredName:
        char = line_breaking(value)
        if char is not None:
            raise InvalidEntry(
                f"entry name {shown(value)} holds {char!r} (U+{ord(char):04X}): a name may not "
                "hold control characters or line and paragraph separators (they could forge "
                "log lines)"
            )
    try:
        value.encode()  # task ids and store keys are made from its UTF-8 bytes
    except UnicodeEncodeError as exc:
        raise InvalidEntry(f"entry name {value!r} is not valid Unicode text: {exc}") from None


def check_task(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(
            f"task of entry {instance.name!r} must be a non-empty task name, got {shown(value)}"
        )


def check_schedule(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not is_schedule(value):
        raise InvalidEntry(
            f"schedule of entry {instance.name!r} must be a schedule type (with type_name, "
            f"to_dict, from_dict and next_after), got {shown(value)}"
        )


#: The longest description kept with an entry (characters).
DESCRIPTION_LIMIT = 10_000


def check_description(
    instance: Any, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > DESCRIPTION_LIMIT:
        raise InvalidEntry(
            f"description of entry {instance.name!r} must be text of at most "
            f"{DESCRIPTION_LIMIT} characters, got {shown(value)}"
        )


def check_tz(instance: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidEntry(
            f"tz of entry {instance.name!r} must be an IANA zone name such as "
            f"'Europe/Berlin', got {shown(value)}"
        )
    try:
        zone(value)
    except InvalidSchedule as exc:
        raise InvalidEntry(f"tz of entry {instance.name!r}: {exc}") from exc


def check_one_of(choices: tuple[str, ...]) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or value not in choices:
            raise InvalidEntry(
                f"{attribute.name} of entry {instance.name!r} must be one of "
                f"{', '.join(choices)}, got {shown(value)}"
            )

    return check


def check_seconds(what: str, least: str = ">=") -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
        if value is None and what != "jitter":
            return
        if (
            not is_number(value)
            or not (value > 0 if least == ">" else value >= 0)
            or (value > MAX_SECONDS)
        ):
            raise InvalidEntry(
                f"{what} of entry {instance.name!r} must be a number of seconds {least} 0 and "
                f"<= {MAX_SECONDS}, got {shown(value)}"
            )

    return check


def check_max_runs(
    instance: Any, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and (not is_integer(value) or not 1 <= value <= MAX_COUNT):
        raise InvalidEntry(
            f"max_runs of entry {instance.name!r} must be a positive integer (<= {MAX_COUNT}) "
            f"or None, got {shown(value)}"
        )


def check_bool(instance: Any, attribute: attrs.Attribute[bool], value: bool) -> None:
    if value is not True and value is not False:
        raise InvalidEntry(
            f"{attribute.name} of entry {instance.name!r} must be True or False, got {shown(value)}"
        )


#: The instants of an Entry (the others are an EntryState's).
_ENTRY_INSTANTS = ("start_at", "end_at")


def check_instant(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or (isinstance(value, datetime) and value.tzinfo is UTC):
        return
    what = attribute.name
    label = f"{what} of entry {instance.name!r}" if what in _ENTRY_INSTANTS else f"state {what}"
    if not isinstance(value, datetime):
        raise InvalidEntry(f"{label} must be an aware datetime or None, got {shown(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidSchedule(f"{label} must be a timezone-aware datetime, got naive {value!r}")
    raise InvalidSchedule(
        f"{label} {value.isoformat()} is outside the instants a datetime can hold in UTC"
    )


def check_count(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not is_integer(value) or not 0 <= value <= MAX_COUNT:
        raise InvalidEntry(
            f"state {attribute.name} must be an integer from 0 to {MAX_COUNT}, got {shown(value)}"
        )


def check_text(instance: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidEntry(f"state {attribute.name} must be a string or None, got {shown(value)}")
