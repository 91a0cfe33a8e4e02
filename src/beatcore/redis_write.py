"""The writes of one tick's batch to a Redis broker, each sent at once and its reply read later.

A write (a :class:`~beatcore.redis_broker.RedisBatch`'s buffered messages: one LPUSH per list,
the queues' PEXPIREs) takes a round trip, which beat would spend waiting. A
:class:`WriteConnection` sends a write's commands and returns; the caller goes on building
the next messages while the server runs them, and reads the replies (:meth:`~WriteConnection.
read`) right before it sends the next write, or at the end of its sends. So at most one
write's reply is unread at any time, and a write is always sent on a connection with no reply
outstanding (a health check's PING may go first).

The connection is taken from the channel's pool at the first write and kept for the batch;
:meth:`~WriteConnection.release` gives it back. A reply left unread (the caller failed or gave
up between the send and the read) is never read as another command's: the connection is
disconnected before it goes back, as it is after any failure to send or read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pack(commands: Sequence[Sequence[Any]], encoding: str) -> bytes:
    """``commands`` in the Redis protocol (RESP), as redis-py's packer writes them: each
    argument's text (``str`` of a number) encoded in ``encoding``.

    A write's arguments are mostly a tick's messages, JSON that is ASCII: its length is
    its byte count, so the whole write is made as one text and encoded once, a fifth of
    the cost of packing each argument apart.
    """
    parts: list[str] = []
    for command in commands:
        arguments = [a if type(a) is str else str(a) for a in command]
        parts.append(f"*{len(arguments)}\r\n")
        parts += [
            f"${len(a) if a.isascii() else len(a.encode(encoding))}\r\n{a}\r\n" for a in arguments
        ]
    return "".join(parts).encode(encoding)


class WriteConnection:
    """The connection of ``channel`` (kombu's Redis channel) one batch writes on."""

    __slots__ = ("_channel", "_conn", "_response_error", "_unread")

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._conn: Any = None
        #: The server's error reply, as redis-py raises it (looked up through the channel:
        #: this module imports no Redis client).
        self._response_error: type[Exception] = channel._get_response_error()
        #: How many replies of the write sent last are still to be read.
        self._unread = 0

    @property
    def unread(self) -> bool:
        """True while the replies of the write sent last are still to be read."""
        return self._unread > 0

    def send(self, commands: Sequence[Sequence[Any]]) -> None:
        """Send ``commands`` (each a command name and its arguments) in one write, without
        reading their replies: :meth:`read` does, before anything else is sent.

        :raises redis.exceptions.RedisError: the write failed (the connection was dropped:
            some of the commands may have run).
        """
        if self._unread:
            raise RuntimeError("the replies of the write before were not read")
        conn = self._conn
        if conn is None:
            conn = self._conn = self._channel.pool.get_connection()
        try:
            conn.send_packed_command([pack(commands, conn.encoder.encoding)])
        except BaseException:
            self._drop()
            raise
        self._unread = len(commands)

    def read(self) -> list[Any]:
        """Return the replies of the write :meth:`send` sent, in order, waiting for them if
        need be; a server's error reply (a key of the wrong type, say) is its exception in
        the list. Returns an empty list when no reply is unread.

        :raises redis.exceptions.RedisError: reading failed (the connection was dropped:
            the commands may or may not have run).
        """
        count, self._unread = self._unread, 0
        if not count:
            return []
        conn, response_error = self._conn, self._response_error
        replies: list[Any] = []
        try:
            for _ in range(count):
                try:
                    replies.append(conn.read_response())
                except response_error as exc:  # read in full: the next reply follows
                    replies.append(exc)
        except BaseException:
            self._drop()
            raise
        return replies

    def release(self) -> None:
        """Give the connection back to the pool (called when the batch ends); one whose
        reply is unread is disconnected first. The next :meth:`send` takes one again."""
        if self._unread:
            self._drop()
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            self._channel.pool.release(conn)

    def _drop(self) -> None:
        """Disconnect the connection and give it back: what it holds unread is lost."""
        conn, self._conn, self._unread = self._conn, None, 0
        if conn is None:
            return
        try:
            conn.disconnect()
        finally:
            self._channel.pool.release(conn)
