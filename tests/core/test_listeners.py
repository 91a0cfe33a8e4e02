"""beatcore.listeners: one typed method per event hook, none of them ever raising."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from beatcore import Entry, Interval, hookimpl, hookspecs
from beatcore.errors import CorruptRecord, StoreUnavailable
from beatcore.listeners import Listeners, Observer
from beatcore.plugins import Plugins
from beatcore.runs import SendOutcome, SendStatus, Skipped
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ENTRY = Entry(name="a", task="tests.add", schedule=Interval(1))

#: Hooks the scheduler calls to tell listeners what happened, and the method that calls each.
EVENT_HOOKS = {
    "beatcore_entry_dispatched": "entry_dispatched",
    "beatcore_dispatch_failed": "dispatch_failed",
    "beatcore_occurrences_skipped": "occurrences_skipped",
    "beatcore_leadership_changed": "leadership_changed",
    "beatcore_record_corrupt": "record_corrupt",
    "beatcore_tick_finished": "tick_finished",
    "beatcore_store_unavailable": "store_unavailable",
}
#: Called from ``occurrences_skipped`` (deprecated, kept for third parties).
DEPRECATED_HOOKS = {"beatcore_occurrence_skipped"}


@pytest.fixture
def plugins() -> Plugins:
    return Plugins(load_entry_points=False)


class Everything:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    @hookimpl
    def beatcore_entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        self.calls.append(("dispatched", (entry.name, occurrence, task_id)))

    @hookimpl
    def beatcore_dispatch_failed(
        self, entry: Entry, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        self.calls.append(("failed", (entry.name, occurrence, task_id, str(error))))

    @hookimpl
    def beatcore_occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        self.calls.append(("skipped", (entry.name, tuple(skipped))))

    @hookimpl
    def beatcore_leadership_changed(self, is_leader: bool, holder: str, token: int | None) -> None:
        self.calls.append(("leadership", (is_leader, holder, token)))

    @hookimpl
    def beatcore_record_corrupt(self, error: CorruptRecord) -> None:
        self.calls.append(("corrupt", (error.name,)))

    @hookimpl
    def beatcore_tick_finished(self, is_leader: bool, seconds: float, at: datetime) -> None:
        self.calls.append(("tick", (is_leader, seconds, at)))

    @hookimpl
    def beatcore_store_unavailable(self, error: StoreUnavailable) -> None:
        self.calls.append(("store", (str(error),)))


class EverythingObserved(Observer):
    """The same events, heard as one scheduler's own observer."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def entry_dispatched(self, entry: Entry, occurrence: datetime, task_id: str) -> None:
        self.calls.append(("dispatched", (entry.name, occurrence, task_id)))

    def dispatch_failed(
        self, entry: Entry, occurrence: datetime, task_id: str, error: BaseException
    ) -> None:
        self.calls.append(("failed", (entry.name, occurrence, task_id, str(error))))

    def occurrences_skipped(self, entry: Entry, skipped: Sequence[Skipped]) -> None:
        self.calls.append(("skipped", (entry.name, tuple(skipped))))

    def leadership_changed(self, is_leader: bool, holder: str, token: int | None) -> None:
        self.calls.append(("leadership", (is_leader, holder, token)))

    def record_corrupt(self, error: CorruptRecord) -> None:
        self.calls.append(("corrupt", (error.name,)))

    def tick_finished(self, is_leader: bool, seconds: float, at: datetime) -> None:
        self.calls.append(("tick", (is_leader, seconds, at)))

    def store_unavailable(self, error: StoreUnavailable) -> None:
        self.calls.append(("store", (str(error),)))


def test_every_event_hook_has_one_method_with_the_hookspec_arguments() -> None:
    # An event hook answers nothing; the others provide types, stores, verbs...
    event_specs = {
        name
        for name, spec in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("beatcore_") and inspect.signature(spec).return_annotation == "None"
    }
    assert event_specs == set(EVENT_HOOKS) | DEPRECATED_HOOKS
    for hook, method in EVENT_HOOKS.items():
        spec = inspect.signature(getattr(hookspecs, hook))
        called = inspect.signature(getattr(Listeners, method))
        assert list(called.parameters)[1:] == list(spec.parameters), hook


def test_each_method_calls_its_hook_and_the_observers(plugins: Plugins) -> None:
    listener = Everything()
    plugins.register(listener)
    listeners = Listeners(plugins)
    observer = EverythingObserved()
    listeners.observe(observer)
    skipped = (Skipped(T0, "missed, catch_up=latest"),)
    listeners.entry_dispatched(ENTRY, T0, "id-1")
    listeners.dispatch_failed(ENTRY, T0, "id-1", OSError("down"))
    listeners.occurrences_skipped(ENTRY, skipped)
    listeners.occurrences_skipped(ENTRY, ())  # nothing skipped: no call
    listeners.leadership_changed(True, "A", 3)
    listeners.record_corrupt(CorruptRecord("b", "not JSON"))
    listeners.tick_finished(True, 0.5, T0)
    listeners.store_unavailable(StoreUnavailable("down"))
    assert listener.calls == [
        ("dispatched", ("a", T0, "id-1")),
        ("failed", ("a", T0, "id-1", "down")),
        ("skipped", ("a", skipped)),
        ("leadership", (True, "A", 3)),
        ("corrupt", ("b",)),
        ("tick", (True, 0.5, T0)),
        ("store", ("down",)),
    ]
    assert observer.calls == listener.calls


def test_an_observer_has_every_event_method_and_a_raising_one_is_ignored(
    plugins: Plugins, caplog: pytest.LogCaptureFixture
) -> None:
    for method in EVENT_HOOKS.values():
        called = inspect.signature(getattr(Listeners, method))
        assert inspect.signature(getattr(Observer, method)) == called, method

    class Broken(Observer):
        def tick_finished(self, is_leader: bool, seconds: float, at: datetime) -> None:
            raise RuntimeError("observer bug")

    listeners = Listeners(plugins)
    listeners.observe(Broken())
    after = EverythingObserved()
    listeners.observe(after)
    listeners.tick_finished(False, 0.1, T0)
    assert after.calls == [("tick", (False, 0.1, T0))]
    assert any("observer bug" in str(r.exc_info and r.exc_info[1]) for r in caplog.records)


def test_a_raising_listener_is_logged_and_the_next_call_still_works(
    plugins: Plugins, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def beatcore_leadership_changed(self) -> None:
            raise RuntimeError("listener bug")

    plugins.register(Broken())
    listeners = Listeners(plugins)
    listeners.leadership_changed(True, "A", 1)
    listeners.leadership_changed(False, "A", 1)
    raised = [r for r in caplog.records if "listener of beatcore_leadership_changed" in r.message]
    assert len(raised) == 2
    assert raised[0].exc_info is not None and "listener bug" in str(raised[0].exc_info[1])


def test_the_deprecated_per_occurrence_hook_hears_of_the_latest_skip_once(
    plugins: Plugins,
) -> None:
    old_style: list[tuple[str, datetime, str]] = []

    class OldStyle:
        @hookimpl
        def beatcore_occurrence_skipped(
            self, entry: Entry, occurrence: datetime, reason: str
        ) -> None:
            old_style.append((entry.name, occurrence, reason))

    with pytest.warns(DeprecationWarning, match="beatcore_occurrences_skipped"):
        plugins.register(OldStyle())
    listeners = Listeners(plugins)
    skipped = [Skipped(T0 + timedelta(seconds=s), "missed, catch_up=latest") for s in range(5000)]
    listeners.occurrences_skipped(ENTRY, skipped)
    assert old_style == [("a", T0 + timedelta(seconds=4999), "missed, catch_up=latest")]


def test_registering_a_current_listener_does_not_warn(plugins: Plugins) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plugins.register(Everything())


def _dispatched_twice(listeners: Listeners) -> None:
    listeners.entry_dispatched(ENTRY, T0, "id-1")
    listeners.entry_dispatched(ENTRY, T0 + timedelta(seconds=1), "id-2")


def test_entry_dispatched_calls_its_listeners_in_pluggy_order_and_stops_at_a_raising_one(
    plugins: Plugins, caplog: pytest.LogCaptureFixture
) -> None:
    """Plain listeners are called directly (no pluggy call per send), exactly as pluggy
    calls them: last registered first, each with the hook's arguments; one that raises is
    logged and the ones after it are not called, as in pluggy."""
    heard: list[tuple[str, str]] = []

    class Hears:
        def __init__(self, label: str, fail: bool = False) -> None:
            self.label, self.fail = label, fail

        @hookimpl
        def beatcore_entry_dispatched(
            self, entry: Entry, occurrence: datetime, task_id: str
        ) -> None:
            heard.append((self.label, task_id))
            if self.fail and task_id == "id-2":
                raise RuntimeError("listener bug")

    plugins.register(Hears("first"))
    plugins.register(Hears("second", fail=True))
    listeners = Listeners(plugins)
    _dispatched_twice(listeners)
    assert heard == [("second", "id-1"), ("first", "id-1"), ("second", "id-2")]
    assert any("listener of beatcore_entry_dispatched" in r.message for r in caplog.records)
    late = Hears("late")
    plugins.register(late)  # registered between two sends: heard from the next one on
    heard.clear()
    listeners.entry_dispatched(ENTRY, T0, "id-3")
    assert heard == [("late", "id-3"), ("second", "id-3"), ("first", "id-3")]
    plugins.unregister(late)
    heard.clear()
    listeners.entry_dispatched(ENTRY, T0, "id-4")
    assert heard == [("second", "id-4"), ("first", "id-4")]


def test_a_listener_unregistered_during_one_write_is_not_called_for_its_later_messages(
    plugins: Plugins,
) -> None:
    """The messages of one broker write are told one by one, each looking its listeners up
    again as a pluggy call does: a listener that unregisters another (or itself) on its first
    call is heard by the rest of that write as unregistered."""
    heard: list[tuple[str, str]] = []

    class Hears:
        @hookimpl
        def beatcore_entry_dispatched(
            self, entry: Entry, occurrence: datetime, task_id: str
        ) -> None:
            heard.append(("other", task_id))

    class OneShot:
        """Called first (registered last); on its first call unregisters both."""

        @hookimpl
        def beatcore_entry_dispatched(
            self, entry: Entry, occurrence: datetime, task_id: str
        ) -> None:
            heard.append(("oneshot", task_id))
            plugins.unregister(self)
            plugins.unregister(other)

    other = Hears()
    plugins.register(other)
    plugins.register(OneShot())
    listeners = Listeners(plugins)
    write = [
        SendOutcome(ENTRY, T0 + timedelta(seconds=i), f"id-{i}", SendStatus.SENT) for i in range(4)
    ]
    listeners.entries_dispatched(write)
    # within the first call pluggy's own list holds: both hear id-0, nobody the rest
    assert heard == [("oneshot", "id-0"), ("other", "id-0")]
    late = Hears()
    plugins.register(late)
    heard.clear()
    listeners.entries_dispatched(write[:2])
    assert heard == [("other", "id-0"), ("other", "id-1")]


def test_entry_dispatched_goes_through_pluggy_for_wrappers_partial_listeners_and_monitoring(
    plugins: Plugins,
) -> None:
    """A hook wrapper, a listener taking only some of the arguments and hook-call
    monitoring each see the calls as pluggy makes them."""
    seen: list[object] = []

    class Partial:
        @hookimpl
        def beatcore_entry_dispatched(self, task_id: str) -> None:
            seen.append(("partial", task_id))

    class Wrapper:
        @hookimpl(wrapper=True)
        def beatcore_entry_dispatched(self, task_id: str) -> object:
            seen.append(("before", task_id))
            result = yield
            seen.append(("after", task_id))
            return result

    plugins.register(Partial())
    listeners = Listeners(plugins)
    _dispatched_twice(listeners)
    assert seen == [("partial", "id-1"), ("partial", "id-2")]
    plugins.register(Wrapper())
    seen.clear()
    _dispatched_twice(listeners)
    assert seen == [
        ("before", "id-1"),
        ("partial", "id-1"),
        ("after", "id-1"),
        ("before", "id-2"),
        ("partial", "id-2"),
        ("after", "id-2"),
    ]
    plugins.register(Everything())
    listeners = Listeners(plugins)
    monitored: list[str] = []
    undo = plugins.manager.add_hookcall_monitoring(
        lambda name, impls, kwargs: monitored.append(name), lambda *_: None
    )
    try:
        _dispatched_twice(listeners)
    finally:
        undo()
    assert monitored == ["beatcore_entry_dispatched"] * 2
    _dispatched_twice(listeners)
    assert monitored == ["beatcore_entry_dispatched"] * 2
