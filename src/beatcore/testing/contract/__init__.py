"""``StoreContract``: the tests every :class:`~beatcore.store.Store` must pass.

Built as fsspec's abstract tests are: one mixin per concern of the contract
(:class:`DefinitionsContract`, :class:`SaveManyContract`, :class:`ClaimAckContract`,
:class:`LockContract`, :class:`StaticSyncContract`, :class:`CorruptRecordContract`,
:class:`ReviveContract`, :class:`HistoryContract`, :class:`ChangeLogContract`,
:class:`OutcomeContract`, :class:`StatusContract`, :class:`LifetimeContract`,
:class:`AckStreamContract`), gathered by
:class:`StoreContract`. Each test's docstring names the clause it checks, and a failure says
what the store did and what the contract wants.

A backend overrides two fixtures and, where its lock expires on real time rather than on the
injected clock, one capability flag::

    class TestMyStore(StoreContract):
        lock_expiry_follows_clock = False

        @pytest.fixture
        def store(self, clock):
            return MyStore(..., clock=clock)

        @pytest.fixture
        def plant_corrupt_record(self, store):
            return lambda name, due_at: my_write_garbage(store, name, due_at)

        @pytest.fixture  # optional: runs the two-instance cases
        def open_second_store(self, store, clock):
            return lambda: MyStore(..., clock=clock)
"""

from beatcore.testing.contract.base import (
    T0,
    ContractBase,
    OpenStore,
    PlantCorrupt,
    every,
    expect,
    names,
)
from beatcore.testing.contract.batches import SaveManyContract
from beatcore.testing.contract.changes import ChangeLogContract
from beatcore.testing.contract.claims import ClaimAckContract
from beatcore.testing.contract.corrupt import CorruptRecordContract
from beatcore.testing.contract.definitions import DefinitionsContract
from beatcore.testing.contract.history import HistoryContract
from beatcore.testing.contract.locking import LockContract
from beatcore.testing.contract.outcomes import OutcomeContract
from beatcore.testing.contract.revive import ReviveContract
from beatcore.testing.contract.static import StaticSyncContract
from beatcore.testing.contract.status import LifetimeContract, StatusContract
from beatcore.testing.contract.streams import AckStreamContract


class StoreContract(
    DefinitionsContract,
    SaveManyContract,
    ClaimAckContract,
    LockContract,
    StaticSyncContract,
    CorruptRecordContract,
    ReviveContract,
    HistoryContract,
    ChangeLogContract,
    OutcomeContract,
    StatusContract,
    LifetimeContract,
    AckStreamContract,
):
    """The contract suite. Subclass it and override ``store`` and ``plant_corrupt_record``."""


__all__ = [
    "T0",
    "AckStreamContract",
    "ChangeLogContract",
    "ClaimAckContract",
    "ContractBase",
    "CorruptRecordContract",
    "DefinitionsContract",
    "HistoryContract",
    "LifetimeContract",
    "LockContract",
    "OpenStore",
    "OutcomeContract",
    "PlantCorrupt",
    "ReviveContract",
    "SaveManyContract",
    "StaticSyncContract",
    "StatusContract",
    "StoreContract",
    "every",
    "expect",
    "names",
]
