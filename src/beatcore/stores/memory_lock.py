"""The lock of a ``memory://NAME`` schedule: a fencing counter under the schedule's mutex;
expiry follows the store's clock."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from beatcore.errors import LockLost
from beatcore.store import Lease, Lock, LockInfo
from beatcore.timeutil import Clock


@attrs.define
class LockRecord:
    """The lease held now."""

    holder: str
    token: int
    acquired_at: datetime
    expires_at: datetime


class LockedData(Protocol):
    """What the lock keeps in its schedule's data (guarded by ``mutex``)."""

    mutex: threading.RLock
    lock: LockRecord | None
    fence: int


class MemoryLock(Lock):
    """The lock of a memory schedule; expiry follows the store's clock."""

    def __init__(self, data: LockedData, clock: Clock) -> None:
        self._data = data
        self._clock = clock

    def acquire(self, holder: str, ttl: float) -> Lease | None:
        """Take the lock unless another lease is still valid (see :meth:`Lock.acquire`)."""
        now = self._clock()
        with self._data.mutex:
            held = self._data.lock
            if held is not None and held.expires_at > now and held.holder != holder:
                return None
            self._data.fence += 1
            token = self._data.fence
            self._data.lock = LockRecord(holder, token, now, now + timedelta(seconds=ttl))
            return Lease(token=token, holder=holder, ttl=ttl)

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease, or raise :class:`LockLost` if a newer token exists."""
        with self._data.mutex:
            self._check(lease)
            return lease

    def release(self, lease: Lease) -> None:
        """Drop the lock and burn the token, if it is still current."""
        with self._data.mutex:
            if self._data.lock is not None and self._data.lock.token == lease.token:
                self._data.lock = None
                self._data.fence += 1

    def current(self) -> LockInfo | None:
        """Return the valid lease's holder, or None."""
        with self._data.mutex:
            held = self._data.lock
            if held is None or held.expires_at <= self._clock():
                return None
            return LockInfo(held.holder, held.token, held.acquired_at, held.expires_at)

    def _check(self, lease: Lease) -> None:
        """Renew ``lease`` in place (caller holds the mutex) or raise :class:`LockLost`."""
        held = self._data.lock
        if held is None or held.token != lease.token or self._data.fence != lease.token:
            raise LockLost.superseded(lease.token, self._data.fence)
        held.expires_at = self._clock() + timedelta(seconds=lease.ttl)
