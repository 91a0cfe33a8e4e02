"""The fenced leadership lock, on the database server's clock.

The lease lives in the one row of ``leadership``; its expiry is computed and compared with
the server's ``now()``, never with a beat process's clock, so processes whose clocks disagree
still agree on who leads. Each acquisition takes its token from the ``fencing_tokens``
sequence, which only grows. Every fenced statement of the store begins with :data:`LEASE_CTE`:
it renews the lease only if its token is still the current one, and the statement's writes
are conditioned on that renewal, all in one statement. The row lock that renewal takes orders
fenced writes and acquisitions: a paused ex-leader that wakes up after a new leader acquired
writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from beatcore.errors import LockLost
from beatcore.store import Lease, Lock, LockInfo
from beatcore.timeutil import UTC
from beatcore_postgres.connection import Connection, Database
from beatcore_postgres.schema import quoted

#: The first common table expression of every fenced statement: ``lease`` has one row when
#: ``%(token)s`` is current (the lease is then renewed for ``%(ttl)s`` seconds, and the time
#: of the last tick set to ``%(tick_at)s`` unless that is NULL), none otherwise. (A statement
#: may update the lease row only once, so the tick is recorded here.)
LEASE_CTE = """
    lease AS (
        UPDATE {s}.leadership
           SET expires_at = now() + make_interval(secs => %(ttl)s),
               last_tick_at = coalesce(%(tick_at)s::timestamptz, last_tick_at)
         WHERE id = 1 AND token = %(token)s
     RETURNING token
    )
"""
#: The last token issued (for the message of a refused fenced call).
LAST_TOKEN = "(SELECT last_value FROM {s}.fencing_tokens)"

_ACQUIRE = """
    UPDATE {s}.leadership
       SET holder = %(holder)s, token = nextval('{s}.fencing_tokens'), acquired_at = now(),
           expires_at = now() + make_interval(secs => %(ttl)s)
     WHERE id = 1 AND (token IS NULL OR expires_at <= now() OR holder = %(holder)s)
 RETURNING token
"""
_RENEW = "WITH " + LEASE_CTE + " SELECT (SELECT token FROM lease), " + LAST_TOKEN
_RELEASE = """
    UPDATE {s}.leadership SET holder = NULL, token = NULL, acquired_at = NULL, expires_at = NULL
     WHERE id = 1 AND token = %(token)s
"""
_CURRENT = """
    SELECT holder, token, acquired_at, expires_at FROM {s}.leadership
     WHERE id = 1 AND token IS NOT NULL AND expires_at > now()
"""


def statement(template: str, schema: str) -> str:
    """``template`` with ``{s}`` replaced by the quoted schema name."""
    return template.replace("{s}", quoted(schema))


def fenced_params(lease: Lease, tick_at: datetime | None = None) -> dict[str, object]:
    """The parameters :data:`LEASE_CTE` reads (``tick_at``: record a tick then)."""
    return {"token": lease.token, "ttl": float(lease.ttl), "tick_at": tick_at}


def check_renewed(lease: Lease, renewed: object, last_token: object) -> None:
    """Raise :class:`LockLost` unless a fenced statement renewed ``lease``.

    :param renewed: the statement's ``lease`` row token (None: not renewed).
    :param last_token: the last token issued, from :data:`LAST_TOKEN`.
    """
    if renewed is None:
        last = last_token if isinstance(last_token, int) else 0
        raise LockLost.superseded(lease.token, last)


def utc(value: datetime | None) -> datetime | None:
    """A timestamp read from the server, in UTC (the session's time zone may be another)."""
    return None if value is None else value.astimezone(UTC)


class PostgresLock(Lock):
    """The lease row of one schedule; expiry follows the server's clock (see module doc)."""

    def __init__(self, db: Database, schema: str) -> None:
        self._db = db
        self._acquire = statement(_ACQUIRE, schema)
        self._renew = statement(_RENEW, schema)
        self._release = statement(_RELEASE, schema)
        self._current = statement(_CURRENT, schema)

    def acquire(self, holder: str, ttl: float) -> Lease | None:
        """Take the lock unless another holder's lease is still valid (one statement)."""

        def acquire(conn: Connection) -> Lease | None:
            row = conn.execute(self._acquire, {"holder": holder, "ttl": float(ttl)}).fetchone()
            return None if row is None else Lease(token=int(row[0]), holder=holder, ttl=ttl)

        return self._db.run("lock acquire", acquire)

    def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl from the server's now, or raise :class:`LockLost`."""

        def renew(conn: Connection) -> Lease:
            row = conn.execute(self._renew, fenced_params(lease)).fetchone()
            assert row is not None  # a SELECT without FROM returns one row
            check_renewed(lease, row[0], row[1])
            return lease

        return self._db.run("lock renew", renew)

    def release(self, lease: Lease) -> None:
        """Drop the lease if it is still the current one; a standby takes over at its next tick."""
        self._db.run(
            "lock release", lambda conn: conn.execute(self._release, {"token": lease.token})
        )

    def current(self) -> LockInfo | None:
        """Return the holder of a lease still valid by the server's clock, or None."""

        def current(conn: Connection) -> LockInfo | None:
            row = conn.execute(self._current).fetchone()
            if row is None:
                return None
            holder, token, acquired_at, expires_at = row
            return LockInfo(holder, token, utc(acquired_at), utc(expires_at))

        return self._db.run("lock status", current)
