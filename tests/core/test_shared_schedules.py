"""The one cache of shared schedule objects (beatcore.schedules.shared)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from celery.schedules import crontab

from beatcore import Crontab, Interval
from beatcore.builtins import beatcore_adapt_schedule
from beatcore.schedules import shared
from beatcore.schedules.shared import shared_schedule


def test_equal_fields_give_one_object_and_the_table_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shared, "LIMIT", 3)
    shared.clear()
    first = shared_schedule(Interval, {"every": 1})
    assert shared_schedule(Interval, {"every": 1, "type": "interval"}) == first
    assert shared_schedule(Interval, {"every": 1}) is first
    for every in range(2, 10):
        shared_schedule(Interval, {"every": every})
        assert len(shared._schedules) <= 3
    assert shared_schedule(Interval, {"every": 1}) == first  # built again after a clear


class _Mutable:
    """A third-party type: its instances need not be immutable, so none is shared."""

    type_name = "mutable"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Mutable:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {}

    def next_after(self, dt: Any) -> None:
        return None


def test_a_third_party_type_is_built_each_time() -> None:
    assert shared_schedule(_Mutable, {"type": "mutable"}) is not shared_schedule(_Mutable, {})


def test_celery_crontabs_in_beat_schedule_share_one_parsed_crontab() -> None:
    first = beatcore_adapt_schedule(crontab(minute="*/15", hour="9-17"))
    again = beatcore_adapt_schedule(crontab(minute="*/15", hour="9-17"))
    assert first is again and first == Crontab(minute="*/15", hour="9-17")
