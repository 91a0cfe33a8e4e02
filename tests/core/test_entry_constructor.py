"""Entry's constructor has a quick path (usual values set at once, one quick test) and a
general path (each field's converter, then each field's check, in field order: what the
attrs-generated constructor did). Both must build equal entries from the same values and
refuse the same values with the same error.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beatcore import Crontab, Entry, Interval
from beatcore.entry import MAX_COUNT, MAX_SECONDS, _init_checked
from beatcore.errors import InvalidEntry, InvalidSchedule
from beatcore.field_converters import StoredName
from beatcore.schedules import interval
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
BERLIN = timezone(timedelta(hours=1))
SIGNATURE = inspect.signature(Entry)

#: Values each field may be given: usual ones, unusual ones a converter turns into usual
#: ones, and values a check refuses.
POOLS: dict[str, list[Any]] = {
    "name": ["e", "bench-000001", " ", "", "a\nb", "a\u2028b", "\ud800", 5, None,
             StoredName("old\tname"), "ünïcode"],
    "task": ["t", "pkg.task", " ", "", 7, None],
    "schedule": [Interval(60), Interval(timedelta(hours=1)), Crontab("0 * * * *"), "hourly",
                 None, 60],
    "args": [(), (1, "a"), [1, 2], (1.5, None, True), ((1, [2]),), (float("nan"),), ({1: 2},),
             "ab", {"a": 1}, None, range(2), (object(),), [], [float("nan")], [{1: 2}]],
    "kwargs": [None, {}, {"a": 1}, {"a": [1, {"b": None}]}, OrderedDict(a=1),
               MappingProxyType({"x": "y"}), {1: "a"}, {"a": float("inf")}, [("a", 1)], "ab"],
    "options": [None, {}, {"queue": "q", "priority": 3}, {"headers": {"h": "v"}}, {"a": {1}},
                ["q"]],
    "enabled": [True, False, 0, 1, None, 2, "yes", 1.0],
    "tz": [None, "Europe/Berlin", "UTC", "Not/AZone", 5, ""],
    "start_at": [None, T0, T0 + timedelta(days=1), T0.replace(tzinfo=None),
                 T0.astimezone(BERLIN), "2026-01-05", 5],
    "end_at": [None, T0, T0 - timedelta(days=1), T0.astimezone(BERLIN),
               T0.replace(tzinfo=None), 0],
    "max_runs": [None, 1, 10, MAX_COUNT, MAX_COUNT + 1, 0, -1, True, 2.0, "3"],
    "catch_up": ["latest", "all", "skip", "none", None, 1],
    "misfire_grace": [None, 0, 0.0, 30, 2.5, -1, float("nan"), MAX_SECONDS + 1, True, "5"],
    "jitter": [0.0, None, 0, 5, 1.5, -0.0, -1, float("inf"), MAX_SECONDS, False, "1"],
    "static": [False, True, 0, 1, None, "no", 2],
    "description": [None, "", "what it is for", "x" * 10_001, 5],
    "overlap": ["allow", "skip", "buffer_one", "never", None],
    "overlap_timeout": [None, 60, 0.5, 0, -1, float("nan"), "60"],
}  # fmt: skip


def outcome(build: Any) -> Any:
    """The entry built, or the type and message of the error raised."""
    try:
        return build()
    except (InvalidEntry, InvalidSchedule, TypeError, ValueError) as exc:
        return (type(exc), str(exc))


def both_paths(**given: Any) -> tuple[Any, Any]:
    """What the constructor makes of ``given``, and what the general path makes of it."""
    bound = SIGNATURE.bind(**given)
    bound.apply_defaults()
    values = tuple(bound.arguments.values())
    quick = outcome(lambda: Entry(**given))

    def general() -> Entry:
        entry = object.__new__(Entry)
        _init_checked(entry, *values)
        return entry

    return quick, outcome(general)


def assert_same(quick: Any, general: Any) -> None:
    assert quick == general
    if isinstance(quick, Entry):
        # equal, and alike in what == does not see: the value types and the copied dicts
        for field in SIGNATURE.parameters:
            assert type(getattr(quick, field)) is type(getattr(general, field)), field
        assert isinstance(general, Entry)
        assert repr(quick) == repr(general)


BASE = {"name": "e", "task": "t", "schedule": Interval(60)}


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, pool in POOLS.items() for v in pool])
def test_each_value_of_each_field_alike_on_both_paths(field: str, value: Any) -> None:
    assert_same(*both_paths(**{**BASE, field: value}))


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={f: st.sampled_from(p) for f, p in POOLS.items()}))
def test_any_mix_of_values_alike_on_both_paths(fields: dict[str, Any]) -> None:
    assert_same(*both_paths(**{**BASE, **fields}))


def test_the_dicts_given_are_copied_on_both_paths() -> None:
    kwargs, options = {"a": 1}, {"queue": "q"}
    built = Entry("e", "t", Interval(60), kwargs=kwargs, options=options)
    assert built.kwargs == kwargs and built.kwargs is not kwargs
    assert built.options == options and built.options is not options
    assert Entry("e", "t", Interval(60)).kwargs is not Entry("f", "t", Interval(60)).kwargs


def test_args_as_json_reads_them_take_the_quick_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A list of args (a record's, as JSON reads it) is made a tuple on the quick path: the
    general path and the field checks run only for values the quick test refuses."""
    from beatcore import entry as entry_module

    general: list[object] = []
    for name in ("_init_checked", "_check_fields"):
        original = getattr(entry_module, name)
        monkeypatch.setattr(entry_module, name, lambda *a, _o=original: general.append(a) or _o(*a))
    built = Entry("e", "t", Interval(60), [1, "c-1", [2]], {"customer": "c-1"})
    assert built.args == (1, "c-1", [2]) and type(built.args) is tuple
    assert general == []
    with pytest.raises(InvalidEntry, match="args of entry 'e' must be JSON-serializable"):
        Entry("e", "t", Interval(60), [float("nan")])
    assert len(general) == 1


def test_positional_values_and_evolve_take_the_same_paths() -> None:
    built = Entry("e", "t", Interval(60), [1], {"a": 1}, None, 1, None, T0, None, 3)
    assert built.args == (1,) and built.enabled is True and built.options == {}
    assert built.max_runs == 3 and built.start_at == T0
    assert built.evolve(args=[2], jitter=None) == Entry("e", "t", Interval(60), (2,), {"a": 1},
                                                        start_at=T0, max_runs=3)  # fmt: skip
    with pytest.raises(InvalidEntry, match="end_at of entry 'e'"):
        built.evolve(end_at=T0 - timedelta(seconds=1))


INTERVALS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((60,), {}), ((60.5,), {}), ((timedelta(hours=1),), {}), ((0,), {}), ((-1,), {}),
    (("x",), {}), ((True,), {}), ((float("nan"),), {}), ((float("inf"),), {}), ((10**30,), {}),
    ((timedelta(0),), {}), ((timedelta(days=-1),), {}), ((60, T0.replace(tzinfo=None)), {}),
    ((60, T0), {}), ((60, T0.astimezone(BERLIN)), {}), ((60, "x"), {}),
    ((60, T0), {"relative": True}), ((60,), {"relative": 1}), ((60,), {"relative": True}),
    ((timedelta(hours=1),), {"relative": None}), ((timedelta(hours=1), None), {}),
]  # fmt: skip


@pytest.mark.parametrize(("args", "kwargs"), INTERVALS, ids=repr)
def test_interval_alike_on_both_paths(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Interval's constructor sets the usual interval at once, else converts and checks."""

    def general() -> Interval:
        built = object.__new__(Interval)
        values = inspect.signature(Interval).bind(*args, **kwargs)
        values.apply_defaults()
        interval._init_checked(built, *values.arguments.values())
        return built

    quick, slow = outcome(lambda: Interval(*args, **kwargs)), outcome(general)
    assert quick == slow
    if isinstance(quick, Interval):
        assert repr(quick) == repr(slow)
        assert [type(v) for v in attrs.astuple(quick)] == [type(v) for v in attrs.astuple(slow)]


def test_an_overlap_that_only_compares_equal_to_allow_is_refused() -> None:
    """The quick path takes ``overlap`` only as the str "allow", as the field check does."""
    with pytest.raises(InvalidEntry, match="overlap of entry 'e' must be one of"):
        Entry(name="e", task="t", schedule=Interval(60), overlap=mock.ANY)
