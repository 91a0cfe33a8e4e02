"""The shared rules for plain values (beatcore.values)."""

from __future__ import annotations

import enum
import sys

import pytest

from beatcore.values import is_integer, is_number


class _Count(enum.IntEnum):
    THREE = 3


class _Seconds(float):
    pass


@pytest.mark.parametrize(
    ("value", "number", "integer"),
    [
        (0, True, True),
        (-3, True, True),
        (2**70, True, True),
        (_Count.THREE, True, True),
        (1.5, True, False),
        (-0.0, True, False),
        (_Seconds(2.5), True, False),
        (sys.float_info.max, True, False),
        (True, False, False),
        (False, False, False),
        (float("nan"), False, False),
        (float("inf"), False, False),
        (float("-inf"), False, False),
        (_Seconds("nan"), False, False),
        (10**400, False, True),
        (-(10**400), False, True),
        ("1", False, False),
        (None, False, False),
        (1j, False, False),
    ],
)
def test_a_number_is_an_int_or_float_that_float_makes_finite_and_never_a_bool(
    value: object, number: bool, integer: bool
) -> None:
    assert is_number(value) is number
    assert is_integer(value) is integer


def test_settings_and_store_options_refuse_nan_and_infinities() -> None:
    """Before the shared check, ``nan <= 0`` was False, so NaN passed as a positive number."""
    from beatcore.errors import ConfigurationError
    from beatcore.settings import _positive
    from beatcore.stores.sqlite.plugin import _busy_timeout

    for bad in (float("nan"), float("inf"), 10**400, True):
        with pytest.raises(ConfigurationError, match="must be a positive number of seconds"):
            _positive("beatcore_lock_ttl", bad)
        with pytest.raises(ConfigurationError, match="busy_timeout must be a number of seconds"):
            _busy_timeout({"busy_timeout": bad})


def test_shown_cuts_long_values_and_writes_what_repr_cannot() -> None:
    from beatcore.values import SHOWN_LENGTH, shown

    assert shown("ab") == "'ab'"
    assert len(shown(list(range(10**5)))) == SHOWN_LENGTH
    assert shown(list(range(10**5))).endswith("...9]")
    assert shown(10**5000) == "an int of 16610 bits"
