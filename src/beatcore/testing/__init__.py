"""The contract test suite for store authors, and test helpers.

Subclass :class:`StoreContract` in your test module and override its ``store`` and
``plant_corrupt_record`` fixtures; see docs/writing-stores.rst for the ten-line recipe.
:class:`DispatchRecorder` (with :func:`recording`) records what a scheduler sent, for tests of
schedule-type and listener plugins.
"""

from beatcore.testing.clock import FakeClock
from beatcore.testing.contract import StoreContract
from beatcore.testing.recorder import DispatchRecorder, recording

__all__ = ["DispatchRecorder", "FakeClock", "StoreContract", "recording"]
