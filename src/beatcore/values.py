"""Rules for plain values that many modules share: what counts as a number or a count, which
characters text shown in a log line may not hold, and how a value is shown in a message.

``True`` is an ``int`` to Python but never a count or a number of seconds to a person, and
NaN compares False with every bound, so ``value < 0`` lets it through; the checks here are
the one place that says so.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any, TypeGuard

#: Encodes as ``json.dumps(value, sort_keys=True)`` does (the same text), without the new
#: encoder that call builds each time: run records, worker reports and changes are encoded
#: per entry on the tick's and the worker's paths.
SORTED_JSON = json.JSONEncoder(sort_keys=True)

#: The largest int that ``float()`` turns into a finite float.
_FLOAT_MAX = int(sys.float_info.max)


def is_number(value: object) -> TypeGuard[int | float]:
    """Return True for an int or float that ``float()`` turns into a finite float.

    Called wherever a setting, an option or a field takes a number. False for a bool, NaN,
    an infinity, an int too large for a float, and anything that is not an int or a float.
    """
    if isinstance(value, float):
        return value - value == 0.0  # NaN - NaN and inf - inf are NaN, not 0
    if isinstance(value, int) and not isinstance(value, bool):
        return -_FLOAT_MAX <= value <= _FLOAT_MAX
    return False


def is_integer(value: object) -> TypeGuard[int]:
    """Return True for an int that is not a bool (of any size).

    Called wherever a setting, an option or a field takes a count.
    """
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


#: How many characters of a value's repr an error message shows.
SHOWN_LENGTH = 80


def shown(value: object) -> str:
    """Return ``repr(value)`` cut to :data:`SHOWN_LENGTH` characters, for an error message.

    Called by validators naming the value they refuse, which may be a 4 MiB list or an int
    too long for ``repr`` (past ``sys.get_int_max_str_digits()``).
    """
    try:
        text = repr(value)
    except ValueError:  # an int with too many digits
        return f"an int of {value.bit_length()} bits" if isinstance(value, int) else "?"
    if len(text) <= SHOWN_LENGTH:
        return text
    return f"{text[: SHOWN_LENGTH - 5]}...{text[-2:]}"


#: The two separators that are not control characters but end a line for many readers.
_SEPARATORS = frozenset("\u2028\u2029")


def line_breaking(text: str) -> str | None:
    """Return the first character of ``text`` that could break or rewrite a log line, or None.

    Those are the control characters (Unicode category Cc: NUL, newline, carriage return,
    escape, ...) and the line and paragraph separators U+2028 and U+2029. Called by the entry
    name rule and by :func:`printable`.
    """
    if text.isprintable():  # the usual case, in C: no Cc, Zl or Zp character (and more)
        return None
    for char in text:
        if char in _SEPARATORS or unicodedata.category(char) == "Cc":
            return char
    return None


def printable(text: str) -> str:
    """Return ``text`` for a log line or a terminal: unchanged, or its ``repr`` (quoted, with
    every such character escaped) when :func:`line_breaking` finds one in it.

    Called wherever an entry name or a task name is logged or printed without ``%r``: a store
    may hold names from before the name rule, and a task name is not checked.
    """
    return text if line_breaking(text) is None else repr(text)


#: How deeply args, kwargs and options may nest. Deeper values could be written but not read
#: back (the JSON decoder stops at Python's recursion limit), and no task needs them.
MAX_JSON_DEPTH = 100

#: Types whose instances ``json`` writes as they are and reads back equal.
_JSON_ATOMS = (str, int, bool, type(None))


def json_problem(value: Any, depth: int = MAX_JSON_DEPTH) -> str | None:
    """Return what keeps ``value`` from being stored as JSON and read back equal, or None.

    Lists and tuples (read back as lists), dicts with str keys, str, int, finite float,
    bool and None are such values (subclasses too: ``json`` writes them as their base).
    Called for the args, kwargs and options of every Entry built (they are stored as JSON),
    so the usual items (of exactly those types) are told in one expression, without a call
    each.
    """
    kind = type(value)
    if kind is dict or kind is list or kind is tuple:
        if depth == 0:
            return f"nested more than {MAX_JSON_DEPTH} levels deep"
        if kind is dict:
            for key in value:
                if type(key) is not str and not isinstance(key, str):
                    return f"the dict key {shown(key)} is not a string (JSON would make it one)"
            items = value.values()
        else:
            items = value
        for item in items:
            kind = type(item)
            if (
                kind is str
                or item is None
                or kind is bool
                or (kind is int and -(2**64) < item < 2**64)
                or (kind is float and item - item == 0.0)
            ):
                continue
            problem = json_problem(item, depth - 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, float):
        return None if value - value == 0.0 else f"{value!r} is not a finite number"
    if isinstance(value, _JSON_ATOMS):
        if isinstance(value, int) and not -(2**64) < value < 2**64:
            try:
                int.__repr__(value)
            except ValueError as exc:  # past sys.get_int_max_str_digits()
                return f"an int too long to write ({exc})"
        return None
    if isinstance(value, dict):  # subclasses: walked as their base type
        return json_problem(dict(value), depth)
    if isinstance(value, (list, tuple)):
        return json_problem(list(value), depth)
    return f"{type(value).__name__} {shown(value)} is not a JSON value"
