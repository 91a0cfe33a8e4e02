"""One connection a store keeps for its script calls, so a save or a tick skips the pool.

Each redis-py command checks a connection out of the pool and back in: a lock, a poll of the
socket for unread data (a system call) and the client's metrics hooks, about 70 µs of CPU on
a small VM, as much as the round trip itself. A store's script calls (a save, the claim of a
tick, an ack) come one after the other from one thread, so :class:`HeldConnection` checks one
connection out once and sends on it directly; a second thread that finds it busy uses the
pool as before. Only for a plain standalone client (a pool of redis-py's own class): Sentinel
pools re-resolve the master per checkout and Cluster clients route per key, so those keep
the pool path.

A connection that fails in any way is disconnected and given back (the next call checks out
a fresh one); the failed command is then sent once more through the client, as redis-py's own
immediate retry does, so an idle connection the server closed costs no backoff and no outage
warning.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from redis import ConnectionPool, Redis
from redis.connection import AbstractConnection
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

_BROKEN = (ConnectionError, TimeoutError, OSError)
#: The connection methods that encode a command: a class overriding one keeps the pool path.
_PACKING_METHODS = ("pack_command", "pack_commands", "send_command")


def holds(client: Any) -> bool:
    """True when ``client`` is a plain standalone redis-py client whose pool may lend one
    connection for good (not Sentinel, Cluster, a single-connection client or a client-side
    cache) and whose connections pack commands as redis-py does: calls on the held
    connection may be packed by the caller (:mod:`.scripts`), which a connection class
    packing or sending its own way, or a pool given a ``command_packer``, would not see."""
    pool = getattr(client, "connection_pool", None)
    if not (
        type(client) is Redis
        and type(pool) is ConnectionPool
        and getattr(client, "connection", None) is None
        and getattr(pool, "cache", None) is None
    ):
        return False
    kind = getattr(pool, "connection_class", None)
    kwargs = getattr(pool, "connection_kwargs", {})
    return (
        isinstance(kind, type)
        and issubclass(kind, AbstractConnection)
        and all(
            getattr(kind, m, None) is getattr(AbstractConnection, m, None) for m in _PACKING_METHODS
        )
        and kwargs.get("command_packer") is None
    )


def held_connection(client: Any) -> HeldConnection:
    """Return the held connection of ``client``, one per client: the stores that share a
    client share it (and its mutex), so they keep one connection between them."""
    with _REGISTRY_MUTEX:
        try:
            return _REGISTRY[client]
        except TypeError:  # a client that takes no weak reference: one per caller
            return HeldConnection(client)
        except KeyError:
            held = _REGISTRY[client] = HeldConnection(client)
            return held


class HeldConnection:
    """The connection of one client kept for direct sends (see the module's docstring);
    get it with :func:`held_connection`."""

    def __init__(self, client: Any) -> None:
        # weak: the registry's value must not keep its key, the client, alive for good
        try:
            self._client_ref: Callable[[], Any] = weakref.ref(client)
        except TypeError:  # a client that takes no weak reference is not in the registry
            self._client_ref = lambda: client
        self._enabled = holds(client)
        self._mutex = threading.Lock()
        self._conn: Any = None
        self._pid = os.getpid()
        #: the reply sent and not read yet (it holds the mutex), if any
        self._outstanding: Outstanding | None = None

    def _live_client(self) -> Any:
        client = self._client_ref()
        if client is None:  # a caller kept the held connection but not its store's client
            raise ConnectionError("the Redis client of this held connection is gone")
        return client

    def execute(self, *args: Any) -> Any:
        """Send the command ``args`` and return its reply, on the held connection when it is
        free, else through the client (the pool).

        :raises redis.exceptions.RedisError: as ``client.execute_command`` would.
        """
        return self.execute_packed(None, args)

    def execute_packed(self, packed: bytes | None, args: tuple[Any, ...]) -> Any:
        """Send the command ``args`` as :meth:`execute` does, as the bytes ``packed`` (its
        RESP encoding, made once by the caller; None: packed here) on the held connection.

        :raises redis.exceptions.RedisError: as ``client.execute_command`` would.
        """
        self._settle_own()
        if not self._enabled or not self._mutex.acquire(blocking=False):
            return self._live_client().execute_command(*args)
        try:
            conn = self._checked_out()
            try:
                if packed is None:
                    conn.send_command(*args)
                else:
                    conn.send_packed_command([packed])
                return conn.read_response()
            except ResponseError:
                raise  # the server's error reply, read in full: the connection is in step
            except _BROKEN:
                self._give_back(broken=True)
            except BaseException:
                # anything else (an interruption mid-reply) may leave a reply unread
                self._give_back(broken=True)
                raise
        finally:
            self._mutex.release()
        return self._live_client().execute_command(*args)

    def execute_many(self, packed: list[bytes]) -> list[Any] | None:
        """Send the commands ``packed`` (their RESP encodings) in one write on the held
        connection and return their replies in order, a server's error reply as its
        :class:`ResponseError` in the list (a pipeline without redis-py's layers). None when
        the held connection is busy or not used (nothing was sent), or when it failed: it was
        given back then and some of the commands may have run, so the caller sends them
        again another way only when running them twice does no harm (a pipeline's
        immediate retry does the same).
        """
        self._settle_own()
        if not self._enabled or not self._mutex.acquire(blocking=False):
            return None
        try:
            conn = self._checked_out()
            try:
                conn.send_packed_command(packed)
                replies: list[Any] = []
                for _ in packed:
                    try:
                        replies.append(conn.read_response())
                    except ResponseError as exc:  # read in full: the next reply follows
                        replies.append(exc)
                return replies
            except _BROKEN:
                # as redis-py's pipeline would after its own immediate retry: the caller
                # sends them all again through the pool, with no backoff or outage warning
                self._give_back(broken=True)
                return None
            except BaseException:
                self._give_back(broken=True)
                raise
        finally:
            self._mutex.release()

    def send(self, *args: Any) -> Outstanding | None:
        """Send the command ``args`` on the held connection without reading its reply;
        return the :class:`Outstanding` reply, which keeps the connection (other calls go
        through the pool meanwhile) until it is read or abandoned. None when the held
        connection is busy or not used, or the send failed: nothing was sent then (the
        caller sends it another way).
        """
        return self.send_packed(None, args)

    def send_packed(self, packed: bytes | None, args: tuple[Any, ...]) -> Outstanding | None:
        """Send the command ``args`` as :meth:`send` does, as the bytes ``packed`` (its
        RESP encoding, made by the caller; None: packed here)."""
        self._settle_own()
        if not self._enabled or not self._mutex.acquire(blocking=False):
            return None
        try:
            conn = self._checked_out()
            if packed is None:
                conn.send_command(*args)
            else:
                conn.send_packed_command([packed])
        except _BROKEN:
            self._give_back(broken=True)
            self._mutex.release()
            return None
        except BaseException:
            self._give_back(broken=True)
            self._mutex.release()
            raise
        outstanding = self._outstanding = Outstanding(self, conn)
        return outstanding

    def _settle_own(self) -> None:
        """Read the reply this thread left outstanding, if any, into its :class:`Outstanding`
        (replies come in order: the next command's reply is behind it)."""
        outstanding = self._outstanding
        if outstanding is not None and outstanding.thread == threading.get_ident():
            outstanding.settle()

    @property
    def enabled(self) -> bool:
        """True when calls may use a held connection (see :func:`holds`)."""
        return self._enabled

    @property
    def connection(self) -> Any:
        """The connection held now (None: none yet, or given back after a failure)."""
        return self._conn

    def busy(self) -> threading.Lock:
        """The mutex a call holds while it uses the connection (``with held.busy():`` keeps
        other calls on the pool)."""
        return self._mutex

    def lend(self) -> None:
        """Give the connection back to the pool unless a call is using it: called before
        a call that goes through the pool (a plain command, a pipeline), so the store keeps
        one connection, not two; the next script call checks it out again."""
        if self._conn is not None and self._mutex.acquire(blocking=False):
            try:
                self._give_back(broken=False)
            finally:
                self._mutex.release()

    def release(self) -> None:
        """Give the connection back to the pool (the store is closing). In a forked child
        the parent's connection is only forgotten: its mutex may have been copied locked.

        Never waits: a store may be closed from a signal handler (beat's shutdown on SIGTERM)
        that interrupted this thread inside :meth:`execute`, which holds the mutex until the
        handler returns; the call in progress gives the connection back itself (the client's
        close disconnects it meanwhile)."""
        if self._pid != os.getpid():
            self.forget_parent()
        else:
            self.lend()

    def forget_parent(self) -> None:
        """Drop the parent's connection and mutex in a forked child (the mutex may have
        been copied locked by a thread that does not exist here); called after a fork."""
        self._conn, self._pid, self._mutex = None, os.getpid(), threading.Lock()
        self._outstanding = None

    def _checked_out(self) -> Any:
        if self._pid != os.getpid():
            # a forked child: the parent's socket is not ours to use or to close
            self._conn, self._pid = None, os.getpid()
        if self._conn is None:
            self._conn = self._live_client().connection_pool.get_connection()
        return self._conn

    def _give_back(self, *, broken: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if broken:
            conn.disconnect()
        self._live_client().connection_pool.release(conn)


class Outstanding:
    """The reply of a command :meth:`HeldConnection.send` sent: read it with :meth:`read`,
    or :meth:`abandon` it. Until then the held connection is this reply's alone; the next
    command this thread sends on it reads this reply first (:meth:`settle`), so a reply is
    never read as another command's."""

    def __init__(self, held: HeldConnection, conn: Any) -> None:
        self._held = held
        self._conn: Any = conn
        self._value: Any = None
        self._error: Exception | None = None
        self._taken = False  # read or abandoned
        #: the thread that sent the command (only it reads the reply)
        self.thread = threading.get_ident()

    @property
    def pending(self) -> bool:
        """True until the reply was read off the connection or abandoned."""
        return self._conn is not None

    def read(self) -> Any:
        """Return the reply, waiting for it if need be (once: a second read raises).

        :raises redis.exceptions.ResponseError: the server's error reply (read in full).
        :raises redis.exceptions.RedisError: the connection failed (it was disconnected
            and given back: the command may or may not have run).
        """
        if self._taken:
            raise RuntimeError("this reply was read or abandoned already")
        self.settle()
        self._taken = True
        error, value, self._error, self._value = self._error, self._value, None, None
        if error is not None:
            raise error
        return value

    def settle(self) -> None:
        """Read the reply off the connection and keep it for :meth:`read`; the connection
        is free again afterwards. Does nothing once read."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            self._value = conn.read_response()
        except ResponseError as exc:
            self._error = exc  # the server's error reply, read in full
        except Exception as exc:
            self._held._give_back(broken=True)  # maybe half read: never read it again
            self._error = exc
        except BaseException:
            self._held._give_back(broken=True)
            # a later read must not take the missing reply for a None one
            self._error = ConnectionError("reading the reply was interrupted")
            raise
        finally:
            self._held._outstanding = None
            self._held._mutex.release()

    def abandon(self) -> None:
        """Drop the reply unread (the caller failed before it needed it): the connection is
        disconnected, so no later call reads this reply as its own. Whether the command ran
        is not known then. Does nothing once read."""
        self._taken = True
        if self._conn is None:
            return
        self._conn = None
        try:
            self._held._give_back(broken=True)
        finally:
            self._held._outstanding = None
            self._held._mutex.release()


_REGISTRY: weakref.WeakKeyDictionary[Any, HeldConnection] = weakref.WeakKeyDictionary()
_REGISTRY_MUTEX = threading.Lock()


def _after_fork_in_child() -> None:
    global _REGISTRY_MUTEX
    _REGISTRY_MUTEX = threading.Lock()
    for held in list(_REGISTRY.values()):
        held.forget_parent()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
