"""The CLI's JSON text: ``json.dumps(value, indent=2, sort_keys=True)``, written faster.

With ``indent`` the standard library encodes in Python, one generator per level, which was
most of an ``export`` of a large schedule; this writer produces the same characters for the
plain values the verbs print (dicts with string keys, lists, strings, finite floats, ints,
booleans, None) and hands anything else to ``json.dumps`` itself, so the text never differs.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii
from typing import Any


class _NotPlain(Exception):
    """A value this writer leaves to ``json.dumps`` (a tuple, a subclass, a non-string key,
    NaN or an infinity, ...)."""


def indented_json(value: Any, level: int = 0) -> str:
    """Return ``json.dumps(value, indent=2, sort_keys=True)`` with every line after the first
    indented ``level`` steps deeper (as the value would sit ``level`` deep in a document).

    :raises TypeError: as ``json.dumps`` does, for a value JSON cannot hold.
    """
    pad = "  " * level
    out: list[str] = []
    try:
        _write(value, pad, out)
    except _NotPlain:
        text = json.dumps(value, indent=2, sort_keys=True)
        return text.replace("\n", "\n" + pad) if pad else text
    return "".join(out)


def _write(value: Any, pad: str, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(encode_basestring_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        if not math.isfinite(value):
            raise _NotPlain
        out.append(float.__repr__(value))
    elif kind is dict:
        _write_dict(value, pad, out)
    elif kind is list:
        _write_list(value, pad, out)
    else:
        raise _NotPlain


def _write_dict(value: dict[Any, Any], pad: str, out: list[str]) -> None:
    if not value:
        out.append("{}")
        return
    if any(type(key) is not str for key in value):
        raise _NotPlain  # json.dumps converts such keys before it sorts them
    inner = pad + "  "
    separator = "{\n" + inner
    for key in sorted(value):
        out.append(separator)
        out.append(encode_basestring_ascii(key))
        out.append(": ")
        _write(value[key], inner, out)
        separator = ",\n" + inner
    out.append("\n" + pad + "}")


def _write_list(value: list[Any], pad: str, out: list[str]) -> None:
    if not value:
        out.append("[]")
        return
    inner = pad + "  "
    separator = "[\n" + inner
    for item in value:
        out.append(separator)
        _write(item, inner, out)
        separator = ",\n" + inner
    out.append("\n" + pad + "]")
