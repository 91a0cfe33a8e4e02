"""Rules for plain values that many modules share: what counts as a number or a count, which
characters text shown in a log line may not hold, and how a value is shown in a message.

``True`` is an ``int`` to Python but never a count or a number of seconds to a person, and
NaN compares False with every bound, so ``value < 0`` lets it through; the checks here are
the one place that says so.
"""

from __future__ import annotations

import sys
import unicodedata
from typing import TypeGuard

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
