"""The dashboard as an ASGI application, to serve alone or mount in another project.

:func:`create_app` builds it over an open store; :func:`app_from_celery` opens the store a
Celery app's settings name (as ``celery beat`` and ``celery beatcore`` find it);
:func:`wsgi_app` wraps either for a WSGI server (Flask, Django's WSGI handler) through
a2wsgi. docs/web.rst shows the mounts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from a2wsgi import ASGIMiddleware
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from beatcore.errors import BeatcoreError
from beatcore.plugins import Plugins, get_plugins
from beatcore.settings import Settings, load_clock
from beatcore.store import Store
from beatcore.timeutil import Clock, utc_now
from beatcore_web import api, pages
from beatcore_web.config import WebConfig
from beatcore_web.context import Dashboard, dashboard
from beatcore_web.errors import ApiError, json_error
from beatcore_web.health import HealthCheck, metrics_text
from beatcore_web.middleware import Guard, route_path
from beatcore_web.openapi import openapi_route

STATIC = Path(__file__).parent / "static"


async def healthz(request: Request) -> Response:
    """``GET /healthz``: 200 when a leader ticked within the lock TTL, else 503 (fast)."""
    ok, body = await run_in_threadpool(dashboard(request).health.probe)
    return JSONResponse(body, 200 if ok else 503)


async def metrics(request: Request) -> Response:
    """``GET /metrics``: the store-level figures for Prometheus."""
    board = dashboard(request)
    status = await run_in_threadpool(board.health.snapshot)
    body, kind = metrics_text(status)
    return Response(body, media_type=kind)


async def _error(request: Request, exc: Exception) -> Response:
    path = route_path(request.scope)
    if path.startswith("/api/") or path in ("/healthz", "/metrics"):
        return await json_error(request, exc)
    return await pages.error_page(request, exc)


def create_app(
    store: Store,
    *,
    config: WebConfig | None = None,
    plugins: Plugins | None = None,
    clock: Clock = utc_now,
    default_tz: str = "UTC",
    lock_ttl: float = 30.0,
    celery_app: Any = None,
) -> Starlette:
    """Return the dashboard over ``store`` (pages, ``/api/``, ``/healthz``, ``/metrics``).

    :param config: read-only, credentials, overdue threshold (default: writable, open).
    :param plugins: where schedule types come from (default: beatcore's plugin manager).
    :param clock: the current instant; ``default_tz``: the zone of entries without one;
        ``lock_ttl``: how long ago a leader may have ticked and still count;
        ``celery_app``: the app whose tasks an added entry is checked against (a warning).
    """
    config = config or WebConfig()
    board = Dashboard(
        store=store,
        config=config,
        plugins=plugins or get_plugins(),
        clock=clock,
        default_tz=default_tz,
        lock_ttl=lock_ttl,
        health=HealthCheck(store, clock, lock_ttl, wait=config.probe_timeout),
        celery_app=celery_app,
    )
    routes = [
        openapi_route(api.ROUTES),
        *api.ROUTES,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *pages.ROUTES,
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, config=config)],
        exception_handlers={
            HTTPException: _error,
            ApiError: _error,
            BeatcoreError: _error,
            Exception: _error,
        },
    )
    app.state.dashboard = board
    return app


def app_from_celery(
    celery_app: Any, *, config: WebConfig | None = None, url: str | None = None
) -> Starlette:
    """Return the dashboard over the store a Celery app's settings name.

    ``url`` overrides ``beatcore_url``; ``config`` defaults to the app's ``beatcore_web_*``
    settings (else the environment). The store is opened now and stays open.
    """
    settings = Settings.from_app(celery_app)
    if url is not None:
        settings = attrs.evolve(settings, url=url)
    plugins = get_plugins()
    plugins.load_modules(settings.plugins)
    clock = load_clock(settings.clock)
    store = plugins.store_from_url(settings.url, settings.store_open_options(clock))
    config = config or WebConfig.from_settings(
        celery_app.conf, overdue_after=settings.missed_threshold
    )
    return create_app(
        store,
        config=config,
        plugins=plugins,
        clock=clock,
        default_tz=settings.timezone,
        lock_ttl=settings.lock_ttl,
        celery_app=celery_app,
    )


def wsgi_app(asgi: Starlette) -> Any:
    """Return ``asgi`` as a WSGI application (a2wsgi), for Flask or Django's WSGI handler."""
    return ASGIMiddleware(asgi)  # type: ignore[arg-type]
