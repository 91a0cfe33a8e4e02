"""Prometheus metrics of a scheduler, in process: a real Scheduler on the memory store, an
injected clock (lateness) and an injected monotonic clock (tick durations)."""

from __future__ import annotations

import logging
import sys
from datetime import datetime

import pytest
from celery import Celery
from prometheus_client import CollectorRegistry

from beatcore import Entry, Interval, connect
from beatcore.errors import ConfigurationError, StoreUnavailable
from beatcore.metrics import SchedulerMetrics
from beatcore.metrics_server import build_metrics
from beatcore.scheduler import Scheduler
from beatcore.settings import Settings
from beatcore.testing import DispatchRecorder, FakeClock
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class Monotonic:
    """A monotonic clock that moves by ``step`` each time it is read (0: only by ``advance``)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def metered(
    app: Celery,
    clock: FakeClock,
    *,
    entry_labels: bool = False,
    monotonic: Monotonic | None = None,
    holder: str = "A",
) -> tuple[Scheduler, SchedulerMetrics]:
    """A scheduler with its metrics observing it (as beatcore_metrics_port would make them)."""
    monotonic = monotonic or Monotonic(0.004)
    app.conf.beatcore_metrics_entry_labels = entry_labels
    scheduler = Scheduler(app, clock=clock, holder=holder, monotonic=monotonic)
    settings = scheduler.settings
    metrics = build_metrics(settings, clock, lambda: scheduler.store.status(), monotonic)
    scheduler.listeners.observe(metrics)
    return scheduler, metrics


def value(metrics: SchedulerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def series(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in registry.collect()
        for sample in family.samples
    }


def test_sends_lateness_leader_token_ticks_and_entry_gauges(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="a", task="tests.add", schedule=Interval(10)))
    store.save(Entry(name="b", task="tests.add", schedule=Interval(10)))
    monotonic = Monotonic(0.004)
    scheduler, metrics = metered(beatcore_app, clock, monotonic=monotonic)
    scheduler.tick()
    assert value(metrics, "beatcore_leader") == 1
    assert value(metrics, "beatcore_fencing_token") == scheduler.lease.token > 0
    assert value(metrics, "beatcore_entries") == 2
    assert value(metrics, "beatcore_unreadable_entries") == 0
    clock.advance(12.5)  # both due at T0+10: sent 2.5 s late
    scheduler.tick()
    assert value(metrics, "beatcore_occurrences_sent_total") == 2
    assert value(metrics, "beatcore_dispatch_lateness_seconds_count") == 2
    assert value(metrics, "beatcore_dispatch_lateness_seconds_sum") == pytest.approx(5.0)
    assert value(metrics, "beatcore_dispatch_lateness_seconds_bucket", le="2.5") == 2
    assert value(metrics, "beatcore_dispatch_lateness_seconds_bucket", le="1.0") == 0
    # the injected monotonic clock is 4 ms later at each read: a tick takes a few reads
    assert value(metrics, "beatcore_tick_duration_seconds_count") == 2
    ticks = value(metrics, "beatcore_tick_duration_seconds_sum")
    assert ticks is not None and ticks / 0.004 == pytest.approx(round(ticks / 0.004)) and ticks > 0
    assert value(metrics, "beatcore_last_tick_timestamp_seconds") == clock().timestamp()
    scheduler.close()
    assert value(metrics, "beatcore_leader") == 0
    assert value(metrics, "beatcore_fencing_token") == 0


def test_entry_gauges_are_refreshed_at_most_every_count_interval(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    beatcore_app.conf.beatcore_metrics_count_interval = 60.0
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="a", task="tests.add", schedule=Interval(3600)))
    monotonic = Monotonic()
    scheduler, metrics = metered(beatcore_app, clock, monotonic=monotonic)
    scheduler.tick()
    store.save(Entry(name="b", task="tests.add", schedule=Interval(3600)))
    for _ in range(2):
        monotonic.advance(29.9)
        scheduler.tick()
    assert value(metrics, "beatcore_entries") == 1  # 59.8 s since the count
    monotonic.advance(0.2)
    scheduler.tick()
    assert value(metrics, "beatcore_entries") == 2


def test_skips_are_counted_by_rule_never_by_the_text_of_the_reason(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    store.save(Entry(name="latest", task="tests.add", schedule=Interval(1)))
    store.save(Entry(name="skip", task="tests.add", schedule=Interval(1), catch_up="skip"))
    store.save(Entry(name="all", task="tests.add", schedule=Interval(1), catch_up="all"))
    scheduler, metrics = metered(beatcore_app, clock)
    scheduler.tick()
    clock.advance(600)
    scheduler.tick()
    # latest and skip: 599 missed, the last (on time) sent; all: the last 100 sent
    assert value(metrics, "beatcore_occurrences_skipped_total", reason="catch_up") == 2 * 599
    assert value(metrics, "beatcore_occurrences_skipped_total", reason="catch_up_limit") == 500
    assert value(metrics, "beatcore_occurrences_sent_total") == 2 + 100
    reasons = {
        dict(labels).get("reason")
        for name, labels in series(metrics.registry)
        if name == "beatcore_occurrences_skipped_total"
    }
    assert reasons == {"catch_up", "catch_up_limit"}


def test_no_series_per_entry_by_default_and_one_per_entry_when_asked(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    store = connect(beatcore_app, clock=clock)
    for i in range(50):
        store.save(Entry(name=f"e{i:02d}", task="tests.add", schedule=Interval(1)))
    scheduler, metrics = metered(beatcore_app, clock)
    scheduler.tick()
    clock.advance(1)
    scheduler.tick()
    assert value(metrics, "beatcore_occurrences_sent_total") == 50
    few = series(metrics.registry)
    assert not any("entry" in dict(labels) for _, labels in few)
    for i in range(50, 200):
        store.save(Entry(name=f"e{i:03d}", task="tests.add", schedule=Interval(1)))
    clock.advance(1)
    scheduler.tick()
    assert series(metrics.registry) == few  # 200 entries, the same series as 50

    per_entry_app = beatcore_app
    clock2 = FakeClock(clock())
    scheduler2, labelled = metered(per_entry_app, clock2, entry_labels=True, holder="B")
    clock2.advance(1)
    scheduler2.tick()  # the first scheduler's lease is still valid: standby
    scheduler.close()
    scheduler2.tick()
    clock2.advance(1)
    scheduler2.tick()
    # the takeover tick sent what was due at T0+3, the next one T0+4
    assert value(labelled, "beatcore_occurrences_sent_total", entry="e07") == 2
    assert value(labelled, "beatcore_occurrences_sent_total") is None


def test_a_skip_standing_for_more_counts_for_all_of_them() -> None:
    from beatcore.runs import Skipped

    entry = Entry(name="a", task="tests.add", schedule=Interval(1))
    metrics = SchedulerMetrics(FakeClock(T0))
    metrics.occurrences_skipped(
        entry, [Skipped(T0, "missed, catch_up=latest", "catch_up", also=20_000)]
    )
    assert value(metrics, "beatcore_occurrences_skipped_total", reason="catch_up") == 20_001


def test_tick_durations_fall_in_their_buckets() -> None:
    metrics = SchedulerMetrics(FakeClock(T0))
    metrics.tick_finished(True, 0.25, T0)
    metrics.tick_finished(False, 0.003, T0)
    assert value(metrics, "beatcore_tick_duration_seconds_sum") == pytest.approx(0.253)
    assert value(metrics, "beatcore_tick_duration_seconds_bucket", le="0.005") == 1
    assert value(metrics, "beatcore_tick_duration_seconds_bucket", le="0.25") == 2


def test_failed_sends_store_errors_and_unreadable_records_are_counted() -> None:
    from beatcore.errors import CorruptRecord

    entry = Entry(name="a", task="tests.add", schedule=Interval(1))
    metrics = SchedulerMetrics(FakeClock(T0))
    metrics.dispatch_failed(entry, T0, "id", OSError("broker gone"))
    metrics.store_unavailable(StoreUnavailable("redis://h: connection refused"))
    metrics.store_unavailable(StoreUnavailable("redis://h: connection refused"))
    metrics.record_corrupt(CorruptRecord("bad", "not JSON"))
    assert value(metrics, "beatcore_occurrences_send_failed_total") == 1
    assert value(metrics, "beatcore_store_errors_total") == 2
    assert value(metrics, "beatcore_unreadable_records_found_total") == 1


def test_a_tick_the_store_fails_is_a_store_error(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(T0)
    scheduler, metrics = metered(beatcore_app, clock)
    scheduler.tick()

    def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("memory://: test outage")

    monkeypatch.setattr(scheduler.store, "claim_due", unavailable)
    scheduler.tick()
    scheduler.tick()
    assert value(metrics, "beatcore_store_errors_total") == 2
    assert value(metrics, "beatcore_tick_duration_seconds_count") == 1  # failed ticks: not


def test_two_schedulers_count_apart(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    clock = FakeClock(T0)
    one, first = metered(beatcore_app, clock)
    other, second = metered(beatcore_app, clock, holder="B")
    one.tick()
    other.tick()
    assert value(first, "beatcore_leader") == 1
    assert value(second, "beatcore_leader") == 0
    assert value(second, "beatcore_tick_duration_seconds_count") == 1


def test_a_missing_extra_is_one_line_naming_it(
    beatcore_app: Celery, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.delitem(sys.modules, "beatcore.metrics", raising=False)
    with pytest.raises(ConfigurationError, match=r"pip install 'beatcore\[metrics\]'"):
        build_metrics(Settings.from_app(beatcore_app), FakeClock(T0))
    beatcore_app.conf.beatcore_metrics_port = 0
    with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit) as stopped:
        Scheduler(beatcore_app, clock=FakeClock(T0))  # celery beat's start: setup_schedule
    assert stopped.value.code == 1
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "prometheus_client is not installed" in line and "beatcore[metrics]" in line


@pytest.mark.parametrize(
    ("name", "bad", "said"),
    [
        ("beatcore_metrics_port", "9100", "TCP port number"),
        ("beatcore_metrics_port", True, "TCP port number"),
        ("beatcore_metrics_port", 70000, "TCP port number"),
        ("beatcore_metrics_host", "", "host name or address"),
        ("beatcore_metrics_entry_labels", "yes", "True or False"),
        ("beatcore_metrics_count_interval", 0, "positive number"),
    ],
)
def test_bad_metrics_settings_are_refused_by_name(
    beatcore_app: Celery, name: str, bad: object, said: str
) -> None:
    beatcore_app.conf[name] = bad
    with pytest.raises(ConfigurationError, match=f"{name} must be .*{said}.*{bad!r}"):
        Settings.from_app(beatcore_app)


def test_served_on_the_port_and_stopped_with_the_scheduler(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    from urllib.request import urlopen

    beatcore_app.conf.beatcore_metrics_port = 0  # any free port on 127.0.0.1
    scheduler = Scheduler(beatcore_app, clock=FakeClock(T0))  # set up as celery beat does
    served = scheduler.metrics_server
    assert served is not None and served.host == "127.0.0.1"
    scheduler.tick()
    with urlopen(served.url, timeout=10) as response:
        text = response.read().decode()
    assert "beatcore_leader 1.0" in text
    scheduler.close()
    with pytest.raises(OSError):
        urlopen(served.url, timeout=2)


def test_metrics_add_no_store_call_to_a_tick_but_the_entry_count_each_interval(
    beatcore_app: Celery, beatcore_recorder: DispatchRecorder
) -> None:
    """Store calls per tick with metrics on: idle 1 (claim), k due 2 (claim, ack), plus one
    status call per ``beatcore_metrics_count_interval`` (60 s on the monotonic clock)."""
    from .test_history import CountingStore

    clock = FakeClock(T0)
    counting = CountingStore(connect(beatcore_app, clock=clock))
    for i in range(10):
        counting.save(Entry(name=f"e{i}", task="tests.add", schedule=Interval(10)))
    monotonic = Monotonic()
    scheduler = Scheduler(
        beatcore_app, clock=clock, holder="A", store=counting, monotonic=monotonic
    )  # type: ignore[arg-type]
    metrics = build_metrics(scheduler.settings, clock, counting.status, monotonic)
    scheduler.listeners.observe(metrics)
    scheduler.tick()  # takes the lock; the first count
    counting.calls.clear()
    clock.advance(1)
    monotonic.advance(1)
    scheduler.tick()
    assert counting.calls == ["claim_due"]
    counting.calls.clear()
    clock.advance(9)
    scheduler.tick()
    assert counting.calls == ["claim_due", "ack_stream"]
    counting.calls.clear()
    monotonic.advance(60)
    clock.advance(1)
    scheduler.tick()
    assert counting.calls == ["claim_due", "status"]
