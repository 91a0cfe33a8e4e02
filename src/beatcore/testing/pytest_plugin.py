"""pytest plugin (entry point ``pytest11``): provides the ``fake_clock`` fixture."""

from __future__ import annotations

import pytest

from beatcore.testing.clock import FakeClock


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`FakeClock` starting at 2026-01-05 12:00 UTC."""
    return FakeClock()
