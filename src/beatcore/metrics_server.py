"""Serving a scheduler's metrics on ``beatcore_metrics_port`` (the ``metrics`` extra).

:func:`serve_metrics` is called once by the scheduler at start. With the port unset it does
nothing and ``prometheus_client`` is never imported; with it set, it builds the scheduler's
:class:`~beatcore.metrics.SchedulerMetrics`, makes it an observer of the scheduler's events
and serves its registry through prometheus_client's own HTTP server, in a daemon thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from celery.utils.log import get_logger

from beatcore.errors import ConfigurationError
from beatcore.listeners import Listeners
from beatcore.settings import Settings
from beatcore.store import StoreStatus
from beatcore.timeutil import Clock

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from beatcore.metrics import SchedulerMetrics

logger = get_logger("beatcore.metrics")

MISSING_EXTRA = (
    "beatcore_metrics_port is set, but prometheus_client is not installed: "
    "pip install 'beatcore[metrics]'"
)


class MetricsServer:
    """The metrics of one scheduler and the HTTP server showing them.

    :param metrics: what is counted (its ``registry`` is what is served).
    :param port: the port it listens on (the one picked when ``beatcore_metrics_port`` is 0).
    """

    def __init__(self, metrics: SchedulerMetrics, server: WSGIServer, host: str) -> None:
        self.metrics = metrics
        self._server = server
        self.host = host
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        """Where Prometheus scrapes: ``http://host:port/metrics``."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port. Called when the scheduler closes."""
        self._server.shutdown()
        self._server.server_close()


def build_metrics(
    settings: Settings,
    clock: Clock,
    status: Callable[[], StoreStatus] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> SchedulerMetrics:
    """Return new metrics configured by ``settings``.

    :raises ConfigurationError: ``prometheus_client`` is not installed (one line naming the
        extra).
    """
    try:
        from beatcore.metrics import SchedulerMetrics  # prometheus_client only when asked for
    except ImportError:
        raise ConfigurationError(MISSING_EXTRA) from None
    return SchedulerMetrics(
        clock,
        entry_labels=settings.metrics_entry_labels,
        status=status,
        count_interval=settings.metrics_count_interval,
        monotonic=monotonic,
    )


def serve_metrics(
    settings: Settings,
    listeners: Listeners,
    clock: Clock,
    status: Callable[[], StoreStatus],
    monotonic: Callable[[], float] = time.monotonic,
) -> MetricsServer | None:
    """Serve a scheduler's metrics when ``beatcore_metrics_port`` is set; return the server.

    :param status: the store's status, for the entry gauges.
    :return: None when the port is not set (nothing is counted).
    :raises ConfigurationError: the extra is missing, or the port cannot be bound.
    """
    if settings.metrics_port is None:
        return None
    metrics = build_metrics(settings, clock, status, monotonic)
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(
            settings.metrics_port, addr=settings.metrics_host, registry=metrics.registry
        )
    except OSError as exc:
        raise ConfigurationError(
            f"beatcore_metrics_port {settings.metrics_port} on beatcore_metrics_host "
            f"{settings.metrics_host!r} cannot be served: {exc}"
        ) from exc
    listeners.observe(metrics)
    served = MetricsServer(metrics, server, settings.metrics_host)
    logger.info("beatcore: metrics served on %s", served.url)
    return served
