"""The plugin manager: built-ins, the ``beatcore`` entry-point group and ``beatcore_plugins``.

One manager per process (:func:`get_plugins`), like pytest's: registering a plugin module makes
its schedule types and stores available to every store and scheduler in the process.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

import pluggy

from beatcore import hookspecs
from beatcore.errors import ConfigurationError, InvalidSchedule, UnknownScheduleType
from beatcore.schedules.base import ScheduleType, is_schedule

_BUILTIN_MODULES = ("beatcore.builtins", "beatcore.stores.memory", "beatcore.stores.sqlite")

#: Called, with no arguments, each time a plugin is registered or taken out: what decoded
#: definitions hold (schedule objects of the types registered then) is stale, as a type
#: may have come, gone or changed class. See :func:`on_schedule_types_changed`.
_type_listeners: list[Callable[[], None]] = []


def on_schedule_types_changed(listener: Callable[[], None]) -> None:
    """Call ``listener()`` each time any :class:`Plugins` registers or unregisters a plugin.

    Called at import by the modules that keep decoded definitions (the serializer's
    templates, the stores' definition caches), so they forget them: a definition read
    again afterwards is decoded with the schedule types registered then, or refused when
    its type is gone.
    """
    _type_listeners.append(listener)


def _schedule_types_changed() -> None:
    for listener in _type_listeners:
        listener()


class Plugins:
    """A pluggy manager with the registry of schedule types built from its hooks."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.manager = pluggy.PluginManager("beatcore")
        self.manager.add_hookspecs(hookspecs)
        self._types: dict[str, type[ScheduleType]] | None = None
        self._lock = threading.Lock()
        for name in _BUILTIN_MODULES:
            self.register(importlib.import_module(name))
        if load_entry_points:
            self.manager.load_setuptools_entrypoints("beatcore")

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``plugins.hook.beatcore_entry_dispatched(...)``)."""
        return self.manager.hook

    def register(self, plugin: ModuleType | object) -> None:
        """Register a plugin (a module or object with hookimpls) unless it already is."""
        with self._lock:
            if self.manager.is_registered(plugin):
                return
            self.manager.register(plugin)
            self._types = None
            _schedule_types_changed()

    def unregister(self, plugin: ModuleType | object) -> None:
        """Take a registered plugin out again (its schedule types with it); tests use it."""
        with self._lock:
            if not self.manager.is_registered(plugin):
                return
            self.manager.unregister(plugin)
            self._types = None
            _schedule_types_changed()

    def load_modules(self, names: Iterable[str]) -> None:
        """Import and register each module named (the ``beatcore_plugins`` setting)."""
        for name in names:
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                raise ConfigurationError(
                    f"beatcore_plugins names module {name!r}, which cannot be imported: {exc}"
                ) from exc
            self.register(module)

    def schedule_types(self) -> dict[str, type[ScheduleType]]:
        """Return every registered schedule type by ``type_name``."""
        types = self._types
        if types is None:
            types = {}
            for provided in self.hook.beatcore_schedule_types():
                for cls in provided:
                    name = getattr(cls, "type_name", None)
                    if not isinstance(name, str) or not name:
                        raise ConfigurationError(f"schedule type {cls!r} has no type_name")
                    if name in types and types[name] is not cls:
                        raise ConfigurationError(
                            f"schedule type name {name!r} is registered twice: by "
                            f"{types[name].__module__} and {cls.__module__}"
                        )
                    types[name] = cls
            self._types = types
        return types

    def schedule_type(self, type_name: str) -> type[ScheduleType]:
        """Return the class registered as ``type_name``.

        :raises UnknownScheduleType: no plugin registered it.
        """
        types = self._types or self.schedule_types()
        try:
            return types[type_name]
        except KeyError:
            raise UnknownScheduleType(type_name, list(types)) from None

    def adapt_schedule(self, obj: object, *, entry_name: str = "?") -> ScheduleType:
        """Return ``obj`` as a schedule type (itself, or converted by a plugin).

        :raises InvalidSchedule: nothing knows how to convert it.
        """
        if is_schedule(obj):
            return obj
        adapted = self.hook.beatcore_adapt_schedule(obj=obj)
        if adapted is None:
            raise InvalidSchedule(
                f"schedule of entry {entry_name!r} is {obj!r} ({type(obj).__name__}); no plugin "
                "converts that type (use a beatcore schedule, a Celery schedule/crontab/solar, "
                "a timedelta or a number of seconds)"
            )
        return adapted  # type: ignore[no-any-return]

    def store_from_url(self, url: str, options: Mapping[str, Any]) -> Any:
        """Return the store a plugin opens for ``url``.

        :raises ConfigurationError: no plugin handles the URL's scheme.
        """
        store = self.hook.beatcore_store_from_url(url=url, options=options)
        if store is None:
            scheme = url.split(":", 1)[0] if ":" in url else url
            raise ConfigurationError(
                f"no installed store handles URL scheme {scheme!r} in beatcore_url "
                f"(built in: memory://, sqlite:///path; redis://, rediss://, "
                f"redis+sentinel:// and redis+cluster:// need the 'beatcore[redis]' extra)"
            )
        return store


_plugins: Plugins | None = None
_plugins_lock = threading.Lock()


def get_plugins() -> Plugins:
    """Return the process-wide plugin manager, building it on first use."""
    global _plugins
    plugins = _plugins
    if plugins is not None:
        # Read for every stored schedule decoded: no lock once the manager exists.
        return plugins
    with _plugins_lock:
        if _plugins is None:
            _plugins = Plugins()
        return _plugins
