"""The Lua scripts of the Redis store, loaded from the ``*.lua`` files of this package.

Each script is called by SHA (EVALSHA); redis-py's ``Script`` object loads it with SCRIPT LOAD
and calls it again when the server answers NOSCRIPT (after a restart, a failover to a replica
that never saw it, or SCRIPT FLUSH), so a tick normally costs exactly one command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import redis.utils
from redis.exceptions import NoScriptError

from beatcore_redis.held import Outstanding, held_connection

_pack_command: Callable[[tuple[Any, ...]], bytes] | None = None
# what redis-py packs commands with: hiredis's packer when it has one (redis-py 5 sets
# HIREDIS_AVAILABLE for any hiredis >= 1.0, which may predate pack_command)
if getattr(redis.utils, "HIREDIS_PACK_AVAILABLE", redis.utils.HIREDIS_AVAILABLE):
    import hiredis

    _pack_command = getattr(hiredis, "pack_command", None)

#: Script names; each is ``<name>.lua`` beside this module.
SCRIPT_NAMES = (
    "claim",
    "ack",
    "write",
    "static_read",
    "lock_acquire",
    "lock_renew",
    "report",
    "changes",
    "names",
    "last_runs",
)


def script_source(name: str) -> str:
    """Return the Lua source of script ``name``."""
    return resources.files("beatcore_redis").joinpath(f"{name}.lua").read_text(encoding="utf-8")


class PreparedCall:
    """The calls of one script whose keys and first arguments never change (a save's write
    call): the command up to them encoded once, so each call encodes only its own arguments.

    Encoded as redis-py encodes a command: with hiredis (the ``redis`` extra installs it)
    by hiredis, strings in UTF-8; without it in the client's encoding (``encoding``).
    """

    __slots__ = ("_encoding", "_head", "_leads", "command", "fixed", "keys", "name")

    def __init__(
        self,
        name: str,
        sha: str,
        keys: Sequence[str],
        fixed: Sequence[str | bytes],
        encoding: tuple[str, str] = ("utf-8", "strict"),
    ) -> None:
        self.name = name
        self.keys = list(keys)
        self.fixed = list(fixed)
        #: EVALSHA and the fixed arguments (the arguments of a call follow them)
        self.command: tuple[str | bytes, ...] = ("EVALSHA", sha, str(len(keys)), *keys, *fixed)
        self._encoding = encoding
        self._head = self._bulks(self.command)
        #: the array header and the fixed part, by the number of a call's own arguments
        self._leads: dict[int, bytes] = {}

    def _bulks(self, args: Sequence[str | bytes]) -> bytes:
        """``args`` as RESP bulk strings (no array header)."""
        if _pack_command is not None:
            packed = _pack_command(tuple(args))
            return packed[packed.index(b"\n") + 1 :]
        encoding, errors = self._encoding
        parts = []
        for arg in args:
            data = arg.encode(encoding, errors) if isinstance(arg, str) else arg
            parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
        return b"".join(parts)

    def pack(self, args: Sequence[str | bytes]) -> bytes:
        """Return the call with ``args`` after the fixed ones as RESP bytes (what
        redis-py's packer sends for ``execute_command(*self.command, *args)``)."""
        lead = self._leads.get(len(args))
        if lead is None:
            lead = b"*%d\r\n%b" % (len(self.command) + len(args), self._head)
            self._leads[len(args)] = lead
        return lead + self._bulks(args)


class Scripts:
    """The registered scripts of one client, by name (``scripts.claim(keys=..., args=...)``)."""

    def __init__(self, client: Any) -> None:
        self._scripts = {name: client.register_script(script_source(name)) for name in SCRIPT_NAMES}
        self._client = client
        self._prepared: dict[str, PreparedCall] = {}
        #: the connection script calls are sent on (see :mod:`.held`)
        self.held = held_connection(client)

    def sha(self, name: str) -> str:
        """Return the SHA1 script ``name`` is called by."""
        return str(self._scripts[name].sha)

    def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Call script ``name`` by SHA (loading it on NOSCRIPT) and return its reply."""
        sha = self._scripts[name].sha
        try:
            # straight to the command, on the held connection: redis-py's Script call and
            # its pool checkout add layers every save and every tick pay
            return self.held.execute("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            self.load(name)
            return self.held.execute("EVALSHA", sha, len(keys), *keys, *args)

    def prepared(
        self,
        purpose: str,
        name: str,
        keys: Callable[[], Sequence[str]],
        fixed: Sequence[str | bytes],
    ) -> PreparedCall:
        """Return the :class:`PreparedCall` kept for ``purpose``: script ``name`` with the
        keys ``keys()`` returns and the first arguments ``fixed``, made at the first call
        (the scripts of one client belong to one store, whose keys never change)."""
        call = self._prepared.get(purpose)
        if call is None:
            pool = getattr(self._client, "connection_pool", None)
            kwargs = getattr(pool, "connection_kwargs", {})
            encoding = (kwargs.get("encoding", "utf-8"), kwargs.get("encoding_errors", "strict"))
            call = PreparedCall(name, self.sha(name), keys(), fixed, encoding)
            self._prepared[purpose] = call
        return call

    def run_prepared(self, call: PreparedCall, args: Sequence[str | bytes]) -> Any:
        """Call ``call``'s script with ``args`` after its fixed ones (loading it on
        NOSCRIPT) and return its reply: :meth:`run`, with the command packed by ``call``."""
        packed = call.pack(args)
        command = (*call.command, *args)
        try:
            return self.held.execute_packed(packed, command)
        except NoScriptError:
            self.load(call.name)
            return self.held.execute_packed(packed, command)

    def send(self, name: str, keys: list[str], args: list[Any]) -> Outstanding | None:
        """Send a call of script ``name`` by SHA on the held connection without waiting for
        its reply (see :meth:`HeldConnection.send`; None: not sent). ``args`` are strings,
        bytes, ints or floats."""
        command = ("EVALSHA", self._scripts[name].sha, len(keys), *keys, *args)
        # packed by hiredis straight away (the claim's and the ack's arguments are strings,
        # bytes and ints, which redis-py hands hiredis as they are): its packer's pass over
        # the arguments costs as much again, some 1,000 arguments an ack part
        packed = None if _pack_command is None else _pack_command(command)
        return self.held.send_packed(packed, command)

    def run_many(
        self, name: str, keys: list[str], arg_lists: Sequence[list[Any]]
    ) -> list[Any] | None:
        """Send a call of script ``name`` per argument list in one write on the held
        connection and return the replies in order, an error reply (NOSCRIPT) as its
        exception (see :meth:`HeldConnection.execute_many`). None when they cannot go so
        (no hiredis packer, the held connection busy or not used: nothing was sent) or the
        held connection failed (some may have run: only for calls safe to repeat)."""
        if _pack_command is None or not self.held.enabled:
            return None
        lead = ("EVALSHA", self._scripts[name].sha, len(keys), *keys)
        # packed by hiredis straight away, as send() does: redis-py's pipeline passes over
        # every argument again (some 8,000 a write call of 1,000 entries)
        return self.held.execute_many([_pack_command((*lead, *args)) for args in arg_lists])

    def release(self) -> None:
        """Give the held connection back to the pool (the store is closing)."""
        self.held.release()

    def queue(self, pipe: Any, name: str, keys: list[str], args: list[Any]) -> None:
        """Queue an EVALSHA of script ``name`` on ``pipe`` (the caller handles NOSCRIPT)."""
        pipe.execute_command("EVALSHA", self._scripts[name].sha, len(keys), *keys, *args)

    def load(self, name: str) -> None:
        """Load script ``name`` into the server's script cache (after a NOSCRIPT answer), on
        the held connection when it is free (no second connection for it)."""
        source = self._scripts[name].script
        if self.held.enabled:
            self.held.execute("SCRIPT", "LOAD", source)
        else:  # a Cluster client sends it to every primary
            self._client.script_load(source)
