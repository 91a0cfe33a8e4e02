"""How long a leader may go on sending the batch it claimed.

Store writes are fenced by token, but a publish to the broker is not a store write: a leader
paused in the middle of a batch (SIGSTOP, a long GC, a frozen VM) must not wake up after
another process took the lock and publish the rest. The window closes one lock TTL after the
claim (measured on the monotonic clock, from before the claim was sent, so it closes no later
than the lease on the store). A batch that is merely slow keeps its window open by renewing
the lease once half of it has passed, so a long backlog drains instead of being cut off and
recovered over and over by the next leader.
"""

from __future__ import annotations

from collections.abc import Callable

from celery.utils.log import get_logger

from beatcore.errors import LockLost, StoreUnavailable
from beatcore.store import Lease, Lock

logger = get_logger("beatcore.scheduler")


class SendWindow:
    """The time within which the current lease certainly covers a send.

    Created by the scheduler for each batch, with ``started`` read just before the claim that
    renewed ``lease``.
    """

    def __init__(
        self, lock: Lock, lease: Lease, monotonic: Callable[[], float], started: float
    ) -> None:
        self._lock = lock
        self._lease = lease
        self._monotonic = monotonic
        self._closes_at = started + lease.ttl
        self._renew_at = started + lease.ttl / 2
        #: the monotonic instant the lease is known valid from: ``started``, or the start of
        #: the last renewal made through this window
        self.renewed_from = started

    @property
    def ttl(self) -> float:
        """Seconds of the lease this window is measured against."""
        return self._lease.ttl

    def may_send(self) -> bool:
        """Return True when a send may go out now; called before each publish of the batch.

        Past half the lease it renews the lease (one store round trip) and moves the window.
        Returns False once the lease may have lapsed, or when the renewal finds the lock lost
        or the store unreachable; it then stays closed for the rest of the batch.
        """
        now = self._monotonic()
        if now >= self._closes_at:
            return False
        if now >= self._renew_at:
            try:
                self._lock.renew(self._lease)
            except (LockLost, StoreUnavailable) as exc:
                logger.warning("beatcore: renewing the lease mid-batch failed: %s", exc)
                self._closes_at = now
                return False
            self._closes_at = now + self._lease.ttl
            self._renew_at = now + self._lease.ttl / 2
            self.renewed_from = now
        return True
