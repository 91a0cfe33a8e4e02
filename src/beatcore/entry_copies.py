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
from beatcore.frozen_build import compile_builder


def field_values(entry: Entry) -> tuple[Any, ...]:
    """Return the values of ``entry``'s fields in field order, for :func:`renamed`."""
    return tuple(getattr(entry, attribute.name) for attribute in attrs.fields(Entry))


def _renamed_values() -> dict[str, str]:
    """Each Entry field's value in :func:`renamed`: the name given, the template's value,
    its dicts copied."""
    values = {}
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(Entry)
    for i, attribute in enumerate(fields):
        value = f"values[{i}]"
        if attribute.name == "name":
            value = "name"
        elif attribute.name in ("kwargs", "options"):
            value += ".copy()"
        values[attribute.name] = value
    return values


#: Return the Entry of ``values`` (:func:`field_values` of a checked Entry) under ``name``,
#: without running its checks again: called for each definition read through a template,
#: whose entry was checked when it was read. ``name`` must pass the quick test of the name
#: rule (a str of printable characters, not blank: what Entry's own check lets through at
#: once); the kwargs and options dicts are copied, as Entry's converters copy them, so no
#: two entries share one.
renamed: Callable[[tuple[Any, ...], str], Entry] = compile_builder(
    Entry, "values, name", _renamed_values()
)
