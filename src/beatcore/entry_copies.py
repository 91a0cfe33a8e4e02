"""An Entry under another name, without running its checks again.

The serializer reads the definitions that differ only in their name through one template
(``beatcore.serializer``): the template's entry was checked when it was read, so each such
definition is that entry's field values (:func:`field_values`) under its own name
(:func:`renamed`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from beatcore.entry import Entry


def field_values(entry: Entry) -> tuple[Any, ...]:
    """Return the values of ``entry``'s fields in field order, for :func:`renamed`."""
    return tuple(getattr(entry, attribute.name) for attribute in attrs.fields(Entry))


def _compile_renamed() -> Callable[[tuple[Any, ...], str], Entry]:
    """Build :func:`renamed` as straight-line code: one slot setter call per field (a loop
    over them costs as much again, for every definition read through a template)."""
    scope: dict[str, Any] = {"new": object.__new__, "Entry": Entry}
    lines = ["def renamed(values, name):", "    entry = new(Entry)"]
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(Entry)
    for i, attribute in enumerate(fields):
        scope[f"set{i}"] = Entry.__dict__[attribute.name].__set__
        value = f"values[{i}]"
        if attribute.name == "name":
            value = "name"
        elif attribute.name in ("kwargs", "options"):
            value += ".copy()"
        lines.append(f"    set{i}(entry, {value})")
    lines.append("    return entry")
    exec(compile("\n".join(lines) + "\n", "<beatcore.serializer renamed Entry>", "exec"), scope)
    renamed: Callable[[tuple[Any, ...], str], Entry] = scope["renamed"]
    return renamed


#: Return the Entry of ``values`` (:func:`field_values` of a checked Entry) under ``name``,
#: without running its checks again: called for each definition read through a template,
#: whose entry was checked when it was read. ``name`` must pass the quick test of the name
#: rule (a str of printable characters, not blank: what Entry's own check lets through at
#: once); the kwargs and options dicts are copied, as Entry's converters copy them, so no
#: two entries share one.
renamed = _compile_renamed()
