"""What every request of one dashboard shares: the store, its settings, and who asks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from starlette.requests import Request

from beatcore.plugins import Plugins
from beatcore.store import Store
from beatcore.timeutil import Clock
from beatcore_web.config import WebConfig
from beatcore_web.errors import ApiError
from beatcore_web.health import HealthCheck
from beatcore_web.operating import Operations, default_by


@attrs.frozen
class Dashboard:
    """One dashboard over one store (``app.state.dashboard``)."""

    store: Store
    config: WebConfig
    plugins: Plugins
    clock: Clock
    default_tz: str
    lock_ttl: float
    health: HealthCheck
    #: The Celery app, to warn about a task it does not know (None: no check).
    celery_app: Any = None

    def now(self) -> datetime:
        """Return the current instant from the dashboard's clock."""
        return self.clock()


def dashboard(request: Request) -> Dashboard:
    """Return the dashboard serving ``request``."""
    found: Dashboard = request.app.state.dashboard
    return found


def user(request: Request) -> str:
    """Return who made ``request`` (set by the authentication middleware; "" anonymous)."""
    return str(request.scope.get("beatcore_user", ""))


def operations(request: Request) -> Operations:
    """Return the operations ``request`` may make, recorded as made by its user.

    :raises ApiError: 403 when the dashboard is read-only.
    """
    board = dashboard(request)
    if board.config.read_only:
        raise ApiError(403, "the dashboard is read-only (started with --read-only)")
    return Operations(
        board.store, default_by(user(request)), clock=board.clock, app=board.celery_app
    )
