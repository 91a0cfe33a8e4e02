"""The exceptions beatcore raises, one hierarchy under :class:`BeatcoreError`.

Every message names the thing that was wrong and the value that made it wrong, so that a
person reading a log line at 3 a.m. can act on it without opening the source.
"""

from __future__ import annotations

from datetime import datetime


class BeatcoreError(Exception):
    """Base class of every error beatcore raises on purpose."""


class ConfigurationError(BeatcoreError, ValueError):
    """A setting, URL or option is invalid (bad URL, unknown store scheme, bad setting value)."""


class MissingExtra(ConfigurationError):
    """What a setting asks for needs an optional dependency that is not installed.

    :param extra: the ``beatcore[...]`` extra that installs it.
    :param needed_for: what needs it, e.g. ``the Redis store (redis://)``.
    :param module: the module that could not be imported.
    """

    def __init__(self, extra: str, needed_for: str, module: str | None) -> None:
        self.extra = extra
        self.module = module
        missing = f" (module {module!r} is not installed)" if module else ""
        super().__init__(
            f"{needed_for} needs the {extra!r} extra: pip install 'beatcore[{extra}]'{missing}"
        )


class InvalidEntry(BeatcoreError, ValueError):
    """An entry definition is invalid (empty name, unknown catch-up policy, ...)."""


class InvalidSchedule(BeatcoreError, ValueError):
    """A schedule is invalid (bad cron field, non-positive interval, naive datetime, ...)."""


class UnknownScheduleType(InvalidSchedule):
    """A stored or requested schedule type is not registered (is its plugin installed?)."""

    def __init__(self, type_name: str, known: list[str] | None = None) -> None:
        self.type_name = type_name
        self.known = sorted(known or [])
        hint = f"; registered types: {', '.join(self.known)}" if self.known else ""
        super().__init__(
            f"unknown schedule type {type_name!r} (is the plugin that provides it installed "
            f"and listed in beatcore_plugins or the 'beatcore' entry point group?){hint}"
        )


class ChangeRefused(BeatcoreError):
    """A management operation (:mod:`beatcore.operations`) refused a change by one of its rules.

    :param name: the entry.
    :param kind: which rule: ``"exists"`` (an entry of that name exists), ``"static"``
        (beat_schedule owns the entry), ``"reason"`` or ``"by"`` (that value is not accepted),
        ``"overlap"`` (an overlap policy while ``beatcore_track_runs`` is off).
    :param field: the field at fault, for a form to show the error beside (None: the whole).
    """

    def __init__(self, name: str, kind: str, message: str, field: str | None = None) -> None:
        self.name = name
        self.kind = kind
        self.field = field
        super().__init__(message)


class CorruptRecord(BeatcoreError):
    """A stored record cannot be read: bad JSON, unknown version, unknown schedule type.

    The record is left where it is; the entry is skipped and reported, the others keep running.
    """

    def __init__(self, name: str, cause: str, since: datetime | None = None) -> None:
        self.name = name
        self.cause = cause
        #: When a claim or ack of beat first found the record unreadable (and took it out of
        #: the due index), if the store recorded it; None: not seen by beat yet, or unknown.
        self.since = since
        super().__init__(f"stored record of entry {name!r} cannot be read: {cause}")


class EntryNotFound(BeatcoreError, KeyError):
    """No entry with that name exists in the store."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"no entry named {self.name!r} in the store"


class LockLost(BeatcoreError):
    """The caller's lease is no longer the current one: another process leads now.

    Raised by lock renewal, claim and ack when the fencing token given is stale. The caller
    must stop sending and go back to standby.
    """

    def __init__(self, token: int, detail: str = "") -> None:
        self.token = token
        extra = f": {detail}" if detail else ""
        super().__init__(f"leadership lost (fencing token {token} is no longer current){extra}")

    @classmethod
    def superseded(cls, token: int, last_issued: int) -> LockLost:
        """Return the error for a store that knows the last token it issued."""
        if last_issued > token:
            return cls(token, f"a newer lease was issued since (token {last_issued})")
        return cls(token, "the lease lapsed or was released")


class StoreError(BeatcoreError):
    """The store failed in a way that retrying will not fix (schema, permissions, data type)."""


class SchemaVersionError(StoreError):
    """The stored data was written by a newer beatcore than this one; it is not touched."""


class StoreUnavailable(BeatcoreError):
    """The store could not be reached, even after the store's own retries.

    Transient by nature: the scheduler logs it once per outage and tries again at its next
    tick; management calls report it as one line naming the store.
    """


class StoreNotFound(BeatcoreError):
    """There is no store at the URL, and the caller only reads, so none was created.

    Raised when the command line opens a store for ``list``, ``show``, ``status`` or
    ``export``; the message names the URL (and for a file store the file) looked at.
    """

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"no beatcore store at {url}: {detail}")
