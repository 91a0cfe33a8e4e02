"""Instances of frozen attrs classes built without their ``__init__``, from checked values.

A frozen class refuses attribute assignment (its ``__setattr__`` raises), so a value set
field by field goes through each slot's descriptor ``__set__``: a call through a method
wrapper per field, most of what building a small value costs. :func:`compile_builder`
makes the value as an instance of a subclass that allows assignment and has no slots of
its own (so the same memory layout), sets each field with a plain attribute store, then
makes it an instance of the class itself (``__class__`` assignment, which Python allows
between two classes of one layout): the same value, for a third of the cost. For values
built per claimed entry (its Entry copy, its state, its Claim), whose fields are known to
pass the class's checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
from attrs import AttrsInstance

T = TypeVar("T", bound=AttrsInstance)


def compile_builder(
    cls: type[T],
    parameters: str,
    values: Mapping[str, str],
    scope: Mapping[str, Any] | None = None,
) -> Callable[..., T]:
    """Return ``build(<parameters>)``: a new ``cls`` whose field ``name`` is the value of the
    Python expression ``values[name]`` (over the parameters and ``scope``), fields set in
    the class's field order, without ``cls.__init__`` (no converter, no check, no
    ``__attrs_post_init__``).

    Called once per class at import. ``cls`` is a slotted attrs class (frozen or not);
    ``values`` names each of its fields.

    :raises ValueError: ``values`` does not name exactly the fields of ``cls``.
    """
    fields = [attribute.name for attribute in attrs.fields(cls)]
    if sorted(values) != sorted(fields):
        raise ValueError(f"values for {cls.__name__} must name {fields}, got {sorted(values)}")
    building = type(
        f"_{cls.__name__}Building",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    lines = [f"def build({parameters}):", "    made = new(building)"]
    lines += [f"    made.{name} = {values[name]}" for name in fields]
    lines += ["    made.__class__ = cls", "    return made"]
    namespace: dict[str, Any] = {**(scope or {}), "new": object.__new__, "building": building}
    namespace["cls"] = cls
    code = compile("\n".join(lines) + "\n", f"<beatcore build {cls.__name__}>", "exec")
    exec(code, namespace)
    build: Callable[..., T] = namespace["build"]
    return build


def positional_builder(cls: type[T]) -> Callable[..., T]:
    """Return ``build(<each field of cls, in field order>)``: :func:`compile_builder` with
    every field's value its own parameter (called once per class at import)."""
    fields = [attribute.name for attribute in attrs.fields(cls)]
    return compile_builder(cls, ", ".join(fields), {name: name for name in fields})
