"""A clock ``CHAOS_CLOCK_OFFSET`` seconds off the real one, for ``beatcore_clock``."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from beatcore.timeutil import utc_now

_OFFSET = timedelta(seconds=float(os.environ.get("CHAOS_CLOCK_OFFSET", "0")))


def clock() -> datetime:
    """Return the current UTC instant shifted by ``CHAOS_CLOCK_OFFSET`` seconds."""
    return utc_now() + _OFFSET
