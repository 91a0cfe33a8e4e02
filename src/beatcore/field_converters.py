"""Converters of :class:`~beatcore.entry.Entry` and :class:`~beatcore.entry.EntryState`
fields: what a caller or a stored record may give, normalised before the field's check.

Each returns the normalised value, or the value unchanged for the check in
:mod:`beatcore.entry` to refuse with the field's name (a converter knows no field).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import UTC, require_aware
from beatcore.values import is_integer, line_breaking


def to_jitter(value: Any) -> Any:
    """Return 0.0 for None, else the value."""
    return 0.0 if value is None else value  # a record may hold null: no jitter


def to_flag(value: Any) -> Any:
    """Return a bool for True/False, 0/1 and None (a record may hold null, read as False
    before this check); anything else is left for the field's check to refuse."""
    if value is True or value is False:
        return value
    if value is None or (value == 0 and is_integer(value)):
        return False
    if value == 1 and is_integer(value):
        return True
    return value


def to_aware(value: Any) -> Any:
    """Return an aware datetime in UTC; anything else is left for the field's check."""
    if value is None or (value.__class__ is datetime and value.tzinfo is UTC):
        return value
    if isinstance(value, datetime) and value.tzinfo is not None:
        try:
            return require_aware(value, "instant")
        except InvalidSchedule:  # no offset, or outside the range in UTC: named below
            return value
    return value


def to_tuple(value: Any) -> Any:
    """Return list and other sequences as a tuple; anything else is left for the field's
    check to refuse (a dict or set would become its keys, a string its characters, an
    iterator be used up)."""
    if type(value) is tuple:
        return value
    if type(value) is list or (
        isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))
    ):
        return tuple(value)
    return value


def to_dict(value: Any) -> Any:
    """Return a copy of a mapping as a dict ({} for None); anything else is left for the
    validator to refuse."""
    if type(value) is dict:
        return value.copy()
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return value


class StoredName(str):
    """An entry name read from a store that holds a character the name rule refuses.

    Names written before the rule may hold control characters; the serializer marks such a
    name (and only such a name: see :func:`stored_name`), so its entry stays readable,
    claimable, editable (``evolve`` keeps the mark) and removable. A new name never has it.
    """

    __slots__ = ()


def stored_name(name: Any) -> Any:
    """Return a name read from a stored record, as a :class:`StoredName` when it breaks the
    name rule. Called by the serializer for every definition it reads."""
    if type(name) is str and line_breaking(name) is not None:
        return StoredName(name)
    return name
