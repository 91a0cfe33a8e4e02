"""The fenced leadership lock of a Redis schedule.

Acquiring increments the fencing counter and writes the lock hash with a PX expiry in one
script, so tokens strictly grow and a lease lapses on Redis's own clock (no clock of any beat
process decides when a leader is gone). Renew and release compare the token first.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

from beatcore import storekit
from beatcore.errors import LockLost
from beatcore.store import Lease, Lock, LockInfo
from beatcore_redis.handle import RedisHandle
from beatcore_redis.keys import SCHEMA_VERSION


class FencedCall(enum.Enum):
    """What ``lock_renew.lua`` does with a current lease; the value is what it receives."""

    RENEW = "1"
    RELEASE = "0"


def ttl_ms(ttl: float) -> int:
    """Return a lease TTL in whole milliseconds (at least 1)."""
    return max(1, round(ttl * 1000))


def lock_lost(lease: Lease, reply: list[Any]) -> LockLost:
    """Return the LockLost for a fenced script's refusal ``{0, last token, holder}``."""
    issued = storekit.text(reply[1]) or "none"
    holder = storekit.text(reply[2]) if len(reply) > 2 else ""
    if holder:
        detail = f"{holder} holds the lock now (last token issued: {issued})"
    else:
        detail = f"the lease expired or was released (last token issued: {issued})"
    return LockLost(lease.token, detail)


class RedisLock(Lock):
    """The lock of one schedule; its expiry follows Redis time (PX), not the store's clock."""

    def __init__(self, handle: RedisHandle) -> None:
        self._handle = handle

    def acquire(self, holder: str, ttl: float) -> Lease | None:
        """Take the lock for ``ttl`` seconds unless another holder's lease is still valid."""
        handle = self._handle
        keys = handle.keys
        token = handle.calls.run_script(
            "lock acquire",
            "lock_acquire",
            [keys.lock, keys.fence, keys.meta],
            [holder, ttl_ms(ttl), storekit.to_micros(handle.now()), SCHEMA_VERSION],
        )
        if not token:
            return None
        return Lease(token=int(token), holder=holder, ttl=ttl)

    def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl, or raise :class:`LockLost` if it is not current."""
        self._fenced_call(lease, FencedCall.RENEW)
        return lease

    def release(self, lease: Lease) -> None:
        """Delete the lock and burn its token, if ``lease`` is still the current one."""
        try:
            self._fenced_call(lease, FencedCall.RELEASE)
        except LockLost:
            return

    def _fenced_call(self, lease: Lease, call: FencedCall) -> None:
        keys = self._handle.keys
        reply = self._handle.calls.run_script(
            "lock renew" if call is FencedCall.RENEW else "lock release",
            "lock_renew",
            [keys.lock, keys.fence],
            [lease.token, ttl_ms(lease.ttl), call.value, lease.holder],
        )
        if int(reply[0]) != 1:
            raise lock_lost(lease, reply)

    def current(self) -> LockInfo | None:
        """Return the holder, token and times of the valid lease, or None."""
        handle = self._handle
        keys = handle.keys

        def read() -> list[object]:
            pipe = handle.client.pipeline(transaction=False)
            pipe.hgetall(keys.lock)
            pipe.pttl(keys.lock)
            return list(pipe.execute())

        fields, pttl = handle.calls.call("lock status", read)
        if not fields or not isinstance(pttl, int) or pttl < 0:
            return None
        data = {storekit.text(k): storekit.text(v) for k, v in fields.items()}  # type: ignore[attr-defined]
        acquired = data.get("acquired_at")
        acquired_at: datetime | None = storekit.from_micros(acquired) if acquired else None
        return LockInfo(
            holder=data.get("holder", "?"),
            token=int(data.get("token", "0")),
            acquired_at=acquired_at,
            expires_at=handle.now() + timedelta(milliseconds=pttl),
        )
