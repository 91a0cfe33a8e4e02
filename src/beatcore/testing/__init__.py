"""The contract test suite for store authors, and test helpers.

Subclass :class:`StoreContract` in your test module and override its ``store`` and
``plant_corrupt_record`` fixtures; see docs/writing-stores.rst for the ten-line recipe.
"""

from beatcore.testing.clock import FakeClock
from beatcore.testing.contract import StoreContract

__all__ = ["FakeClock", "StoreContract"]
