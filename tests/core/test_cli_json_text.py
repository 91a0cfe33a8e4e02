"""The CLI's JSON writer gives exactly ``json.dumps(value, indent=2, sort_keys=True)``."""

from __future__ import annotations

import enum
import json
from collections import OrderedDict
from typing import Any

import pytest

from beatcore.cli.json_text import indented_json


class Level(enum.IntEnum):
    HIGH = 3


VALUES: list[Any] = [
    None, True, False, 0, -7, 10**30, 0.0, -0.0, 1.5, 1e-7, 3600.0, 1e300, "", "plain",
    'quote " backslash \\ newline \n tab \t', "é ü 中文 \U0001f600 \x00 \x7f", [], {},
    [[]], [{}], {"a": []}, {"b": 1, "a": {"d": [1, 2.5, None], "c": {}}},
    {"entry": {"args": [1, "x", [True]], "kwargs": {"z": {"y": None}}, "name": "n"}},
    [1, [2, [3, [4, []]]]],
    # left to json.dumps itself: still the same text
    (1, 2), {"t": (1, (2,))}, {2: "int keys", 1: "sorted as ints"}, {0.5: 1.0},
    float("nan"), [float("inf"), -float("inf")], Level.HIGH, {"e": Level.HIGH},
    OrderedDict([("b", 1), ("a", 2)]),
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("level", [0, 1, 3])
def test_the_same_text_as_json_dumps(value: Any, level: int) -> None:
    expected = json.dumps(value, indent=2, sort_keys=True).replace("\n", "\n" + "  " * level)
    assert indented_json(value, level) == expected


def test_what_json_cannot_hold_is_refused_as_json_dumps_refuses_it() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        indented_json({"when": object()})
    with pytest.raises(TypeError):
        indented_json({1: "a", "b": 2})  # json.dumps cannot sort mixed keys either
