"""pytest plugin (entry point ``pytest11``): provides the ``fake_clock`` fixture.

pytest imports this module in every project where beatcore is installed, so it imports nothing
of beatcore (and no Celery) until a test asks for one of its fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from beatcore.testing.clock import FakeClock


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`~beatcore.testing.FakeClock` starting at 2026-01-05 12:00 UTC."""
    from beatcore.testing.clock import FakeClock

    return FakeClock()
