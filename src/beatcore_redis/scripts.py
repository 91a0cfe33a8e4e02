"""The Lua scripts of the Redis store, loaded from the ``*.lua`` files of this package.

Each script is called by SHA (EVALSHA); redis-py's ``Script`` object loads it with SCRIPT LOAD
and calls it again when the server answers NOSCRIPT (after a restart, a failover to a replica
that never saw it, or SCRIPT FLUSH), so a tick normally costs exactly one command.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from beatcore_redis.held import Outstanding, held_connection

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


class Scripts:
    """The registered scripts of one client, by name (``scripts.claim(keys=..., args=...)``)."""

    def __init__(self, client: Any) -> None:
        self._scripts = {name: client.register_script(script_source(name)) for name in SCRIPT_NAMES}
        self._client = client
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

    def send(self, name: str, keys: list[str], args: list[Any]) -> Outstanding | None:
        """Send a call of script ``name`` by SHA on the held connection without waiting for
        its reply (see :meth:`HeldConnection.send`; None: not sent)."""
        sha = self._scripts[name].sha
        return self.held.send("EVALSHA", sha, len(keys), *keys, *args)

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
