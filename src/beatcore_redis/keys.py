"""Where a schedule lives in Redis: the key names derived from ``beatcore_key_prefix``.

Every key of one schedule carries the same hash tag (the prefix without its trailing ``:``, in
braces), so all of them hash to one Redis Cluster slot and every multi-key script runs there.
``beatcore:`` gives ``{beatcore}:defs``, ``{beatcore}:states`` and so on; a prefix that already
holds a ``{tag}`` is used as it is. docs/redis.rst describes each key for operators.
"""

from __future__ import annotations

from typing import Any

import attrs
from redis.exceptions import RedisError

from beatcore import storekit
from beatcore.errors import ConfigurationError

#: The data layout this code writes; stored as ``schema`` in the meta hash.
SCHEMA_VERSION = 1
#: The value of ``owner`` in the meta hash that marks the keys under a prefix as ours.
OWNER_MARK = "beatcore"


def tagged_prefix(prefix: str) -> str:
    """Return ``prefix`` as a hash-tagged key prefix (``beatcore:`` -> ``{beatcore}:``).

    :raises ConfigurationError: the prefix is empty or holds an unbalanced brace.
    """
    if not isinstance(prefix, str) or not prefix.strip(":"):
        raise ConfigurationError(
            f"beatcore_key_prefix must be a non-empty string such as 'beatcore:', got {prefix!r}"
        )
    opening, closing = prefix.find("{"), prefix.find("}")
    if opening != -1 or closing != -1:
        if not 0 <= opening < closing - 1:
            raise ConfigurationError(
                f"beatcore_key_prefix {prefix!r} has an unbalanced or empty {{hash tag}}"
            )
        return prefix if prefix.endswith(":") else prefix + ":"
    return "{" + prefix.rstrip(":") + "}:"


@attrs.frozen
class KeyLayout:
    """The key names of one schedule.

    :param prefix: ``beatcore_key_prefix`` as configured (e.g. ``beatcore:``).
    """

    prefix: str
    #: The hash-tagged prefix every key starts with (``{beatcore}:``), made once: every
    #: store call names its keys.
    base: str = attrs.field(init=False, repr=False, eq=False)

    @base.default
    def _tagged(self) -> str:
        return tagged_prefix(self.prefix)

    @property
    def defs(self) -> str:
        """Hash: entry name -> definition JSON."""
        return self.base + "defs"

    @property
    def states(self) -> str:
        """Hash: entry name -> state JSON."""
        return self.base + "states"

    @property
    def due(self) -> str:
        """Sorted set: entry name scored by its due instant (epoch microseconds)."""
        return self.base + "due"

    @property
    def static(self) -> str:
        """Set: names of the entries that came from ``beat_schedule``."""
        return self.base + "static"

    @property
    def inflight(self) -> str:
        """Hash: claimed entry name -> ``<fencing token>|<definition JSON at claim time>``."""
        return self.base + "inflight"

    @property
    def claimed(self) -> str:
        """Sorted set: claimed entry name scored by its claim instant (epoch microseconds)."""
        return self.base + "claimed"

    @property
    def corrupt(self) -> str:
        """Hash: entry name -> why its record cannot be read (taken out of the due index)."""
        return self.base + "corrupt"

    @property
    def lock(self) -> str:
        """Hash with a PX expiry: ``token``, ``holder``, ``acquired_at`` of the leader."""
        return self.base + "lock"

    @property
    def fence(self) -> str:
        """String counter: the last fencing token issued."""
        return self.base + "fence"

    @property
    def meta(self) -> str:
        """Hash: ``owner`` (the ``beatcore`` mark), ``schema`` and ``last_tick``."""
        return self.base + "meta"

    @property
    def history_prefix(self) -> str:
        """What each entry's run-history key starts with (the scripts append the name)."""
        return self.base + "history:"

    def history(self, name: str) -> str:
        """List: the run history of entry ``name``, oldest record first (RunRecord JSON)."""
        return self.history_prefix + name

    @property
    def reports_prefix(self) -> str:
        """What each entry's log of worker reports starts with (the scripts append the name)."""
        return self.base + "reports:"

    def reports(self, name: str) -> str:
        """List: the worker reports of entry ``name``, oldest first (``task_id|final|JSON``)."""
        return self.reports_prefix + name

    @property
    def running(self) -> str:
        """Hash: entry name -> its running fact (``task_id|held|ended|JSON``)."""
        return self.base + "running"

    def expected_types(self) -> dict[str, str]:
        """Return each key with the Redis type it must have (for checks and error messages)."""
        return {
            self.defs: "hash",
            self.states: "hash",
            self.due: "zset",
            self.static: "set",
            self.inflight: "hash",
            self.claimed: "zset",
            self.corrupt: "hash",
            self.running: "hash",
            self.lock: "hash",
            self.fence: "string",
            self.meta: "hash",
        }


def describe_wrong_types(client: Any, keys: KeyLayout) -> str:
    """Return which of ``keys`` hold another Redis type than beatcore writes (one round trip;
    called for the error message when Redis answers WRONGTYPE, and by the startup checks)."""
    expected = keys.expected_types()
    try:
        pipe = client.pipeline(transaction=False)
        for key in expected:
            pipe.type(key)
        actual = [storekit.text(kind) for kind in pipe.execute()]
    except RedisError as exc:
        return f"could not read the key types: {exc}"
    wrong = [
        f"key {key!r} is a {kind}, beatcore expects a {expected[key]}"
        for key, kind in zip(expected, actual, strict=True)
        if kind not in ("none", expected[key])
    ]
    return "; ".join(wrong)
