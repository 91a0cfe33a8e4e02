"""argument_repr against Celery's saferepr: the same text for every value and limit.

A seeded corpus of JSON-shaped values (what an entry's arguments are) with the cases that
tell repr and saferepr apart: quotes, backslashes, control characters, non-ASCII, text at
and around the length limit, nesting at and past the depth limit; plus values that are no
JSON (sets, bytes, subclasses), which go to saferepr itself.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import pytest
from celery.utils.saferepr import saferepr

from beatcore.argument_repr import argument_repr

TEXTS = ["", "a", "c-1", "it's", 'say "hi"', "back\\slash", "line\nbreak", "tab\t", "é 客户",
         "\x00", "\u2028", " ", "a b c d", "x" * 40, "{'a': 1}"]  # fmt: skip
ATOMS: list[Any] = [0, 1, -7, 2**63, 1.5, -0.0, 1e-7, 1e22, True, False, None, *TEXTS]


def value(rng: random.Random, depth: int) -> Any:
    """A random JSON-shaped value, nested at most ``depth`` more levels."""
    pick = rng.random()
    if depth == 0 or pick < 0.5:
        return rng.choice(ATOMS)
    size = rng.randrange(0, 5)
    if pick < 0.65:
        return tuple(value(rng, depth - 1) for _ in range(size))
    if pick < 0.8:
        return [value(rng, depth - 1) for _ in range(size)]
    return {rng.choice(TEXTS): value(rng, depth - 1) for _ in range(size)}


def corpus() -> list[Any]:
    rng = random.Random(20261202)
    values: list[Any] = [(), {}, (1,), ("a",), ([],), ({},), ((1, 2),), {"customer": "c-1"}]
    while len(values) < 3000:
        made = value(rng, 5)
        if isinstance(made, (tuple, dict)):
            values.append(made)
    return values


CORPUS = corpus()


@pytest.mark.parametrize("maxlevels", [0, 1, 2, 3, 4])
def test_the_text_is_saferepr_s_for_every_value_at_every_depth_limit(maxlevels: int) -> None:
    for each in CORPUS:
        assert argument_repr(each, 1024, maxlevels) == saferepr(each, 1024, maxlevels=maxlevels)


def test_the_text_is_saferepr_s_at_and_around_the_length_limit() -> None:
    for each in CORPUS[:600]:
        length = len(saferepr(each, None, maxlevels=3))
        for maxlen in {1, 2, 5, length - 2, length - 1, length, length + 1, length + 2}:
            if maxlen > 0:
                expected = saferepr(each, maxlen, maxlevels=3)
                assert argument_repr(each, maxlen, 3) == expected, (each, maxlen)


@pytest.mark.parametrize(
    "odd",
    [
        ({1, 2},),
        (b"bytes",),
        (OrderedDict(a=1),),
        OrderedDict(a=1),
        {1: "int key"},
        (range(3),),
        (float("nan"), float("inf")),
    ],
    ids=["set", "bytes", "ordered dict inside", "ordered dict", "int key", "range", "nan"],
)
def test_values_that_are_no_json_are_saferepr_s_own(odd: Any) -> None:
    assert argument_repr(odd, 1024, 3) == saferepr(odd, 1024, maxlevels=3)
