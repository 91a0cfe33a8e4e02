"""What every verb needs: the Celery app, beatcore's settings, a clock and the open store.

Verbs get a :class:`Session` with :func:`pass_session`; plugin verbs (the
``beatcore_cli_commands`` hook) use the same decorator, so they read the app exactly as the
built-in verbs do: from Celery's click context (``ctx.obj.app``), filled in by ``celery -A``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import attrs
import click

from beatcore.cli.json_text import indented_json
from beatcore.errors import StoreNotFound
from beatcore.operations import Operations, actor
from beatcore.plugins import Plugins, get_plugins
from beatcore.settings import Settings, load_clock
from beatcore.store import Store
from beatcore.timeutil import Clock
from beatcore.urls import mask_password

_SESSION_KEY = "beatcore.session"
F = TypeVar("F", bound=Callable[..., Any])


#: Where the ``beatcore`` group keeps its ``-s/--schedule`` and ``--url`` for the session.
LOCATION_KEY = "beatcore.location"


@attrs.frozen
class Location:
    """Where the command line looks for the store: the group's ``--url`` and ``-s``.

    :param url: ``--url``; wins over ``beatcore_url`` and ``-s``.
    :param schedule: ``-s/--schedule``, celery beat's schedule file; with no ``beatcore_url``
        the store is the SQLite file beside it, exactly as beat derives it.
    """

    url: str | None = None
    schedule: str | None = None


class Session:
    """The app, settings, clock and (opened on first use) store of one CLI invocation."""

    def __init__(self, app: Any, location: Location | None = None) -> None:
        location = location or Location()
        self.app = app
        settings = Settings.from_app(app, location.schedule)
        if location.url is not None:
            settings = attrs.evolve(settings, url=location.url)
        self.settings = settings
        self.plugins: Plugins = get_plugins()
        self.plugins.load_modules(self.settings.plugins)
        self.clock: Clock = load_clock(self.settings.clock)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """The store the settings name, opened (and created if need be) on first use."""
        if self._store is None:
            options = self.settings.store_open_options(self.clock)
            self._store = self.plugins.store_from_url(self.settings.url, options)
            self._store.change_log_size = self.settings.change_log_size
        return self._store

    @property
    def existing_store(self) -> Store:
        """Open the store for a verb that only reads, never creating one.

        :raises StoreNotFound: a store plugin says there is no store at the URL yet (the
            ``beatcore_store_missing`` hook); the message names the URL and what is missing.
        """
        if self._store is None:
            options = self.settings.store_open_options(self.clock)
            missing = self.plugins.hook.beatcore_store_missing(
                url=self.settings.url, options=options
            )
            if missing:
                raise StoreNotFound(
                    mask_password(self.settings.url),
                    f"{missing} (beat creates it at its first start; if beat runs with "
                    "-s/--schedule or in another directory, give 'beatcore' the same -s, or "
                    "--url)",
                )
        return self.store

    def operations(self, *, create: bool = False) -> Operations:
        """The management operations on the store: :attr:`existing_store`, or with ``create``
        (``add``, ``import``) :attr:`store`, which creates it if need be."""
        store = self.store if create else self.existing_store
        return Operations(store, clock=self.clock, app=self.app)

    @property
    def by(self) -> str:
        """The ``user@host`` who makes this invocation's changes, for the change log."""
        return actor()

    @property
    def default_tz(self) -> str:
        """The zone of entries without their own ``tz`` (``app.conf.timezone``)."""
        return self.settings.timezone

    def now(self) -> datetime:
        """Return the current instant from the configured clock (``beatcore_clock``)."""
        return self.clock()

    def abandon(self) -> None:
        """Forget the store without closing it: a call to it did not come back in time, and
        closing could wait on that call."""
        self._store = None

    def close(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            self._store.close()
            self._store = None


def echo_json(value: Any) -> None:
    """Print ``value`` as the verbs' ``--json`` output: indented, keys sorted."""
    click.echo(indented_json(value))


def json_list_chunks(items: Iterable[Any], level: int = 0) -> Iterator[str]:
    """Yield the text of ``json.dumps(list(items), indent=2, sort_keys=True)`` in pieces, one
    item at a time, indented as a value ``level`` deep (so a verb streams a long list, e.g.
    ``list --json`` and ``export``, holding one item's text at a time)."""
    pad = "  " * (level + 1)
    first = True
    for item in items:
        yield ("[\n" if first else ",\n") + pad + indented_json(item, level + 1)
        first = False
    yield "[]" if first else "\n" + "  " * level + "]"


def report(as_json: bool, text: str, data: Any) -> None:
    """Print what a verb did: ``data`` as JSON with ``--json``, else ``text`` for people."""
    if as_json:
        echo_json(data)
    else:
        click.echo(text)


#: The ``--json`` flag every verb takes (the value arrives as ``as_json``).
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def app_from_context(ctx: click.Context) -> Any:
    """Return the Celery app that ``celery -A`` put into click's context object.

    Falls back to Celery's current app when the group runs outside the ``celery`` command.
    """
    app = getattr(ctx.obj, "app", None)
    if app is None:
        from celery import current_app

        app = current_app._get_current_object()
    return app


def existing_session(ctx: click.Context) -> Session | None:
    """Return the invocation's session if a verb already opened it, else None."""
    session = ctx.find_root().meta.get(_SESSION_KEY)
    return session if isinstance(session, Session) else None


def get_session(ctx: click.Context) -> Session:
    """Return the invocation's session, creating it on first use (one per ``celery`` run)."""
    root = ctx.find_root()
    session = root.meta.get(_SESSION_KEY)
    if session is None:
        location = root.meta.get(LOCATION_KEY)
        session = Session(app_from_context(ctx), location)
        root.meta[_SESSION_KEY] = session
        root.call_on_close(session.close)
    assert isinstance(session, Session)
    return session


def pass_session(func: F) -> F:
    """Decorate a click callback to receive the :class:`Session` as its first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(get_session(click.get_current_context()), *args, **kwargs)

    return wrapper  # type: ignore[return-value]
