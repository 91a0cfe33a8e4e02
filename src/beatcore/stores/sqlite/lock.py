"""The lock row of a SQLite schedule: a fencing counter; expiry follows the store's clock."""

from __future__ import annotations

from datetime import timedelta

from beatcore.store import Lease, Lock, LockInfo
from beatcore.storekit import to_micros as micros
from beatcore.stores.sqlite.database import Database


class SqliteLock(Lock):
    """The lock row of a SQLite schedule: a fencing counter; expiry follows the clock."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def acquire(self, holder: str, ttl: float) -> Lease | None:
        """Take the lock unless another lease is still valid (see :meth:`Lock.acquire`).

        Each acquisition increments the counter row and takes its value as the token.
        """
        now = self._db.clock()
        with self._db.transaction(write=True) as conn:
            fence, held_by, token, expires_at = conn.execute(
                "SELECT fence, holder, token, expires_at FROM leadership WHERE id = 1"
            ).fetchone()
            if token is not None and expires_at > micros(now) and held_by != holder:
                return None
            fence += 1
            conn.execute(
                "UPDATE leadership SET fence = ?, holder = ?, token = ?, acquired_at = ?,"
                " expires_at = ? WHERE id = 1",
                (fence, holder, fence, micros(now), micros(now + timedelta(seconds=ttl))),
            )
            return Lease(token=fence, holder=holder, ttl=ttl)

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease, or raise :class:`LockLost` if a newer token exists."""
        with self._db.transaction(write=True) as conn:
            self._db.check_lease(conn, lease)
            return lease

    def release(self, lease: Lease) -> None:
        """Drop the lock and burn the token, if it is still current.

        Called from a signal handler in the middle of a transaction, it happens as soon as
        that transaction has ended (see :meth:`Database.after_transaction`).
        """

        def release() -> None:
            with self._db.transaction(write=True) as conn:
                conn.execute(
                    "UPDATE leadership SET fence = fence + 1, holder = NULL, token = NULL,"
                    " acquired_at = NULL, expires_at = NULL WHERE id = 1 AND token = ?",
                    (lease.token,),
                )

        self._db.after_transaction(release)

    def current(self) -> LockInfo | None:
        """Return the valid lease's holder, or None."""
        with self._db.transaction() as conn:
            return self._db.lock_info(conn)
