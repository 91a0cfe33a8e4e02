"""beatcore's web dashboard and JSON API (the ``web`` extra): see docs/web.rst.

``celery -A proj beatcore web`` serves it; :func:`create_app` and :func:`app_from_celery`
return the ASGI application to mount in another project, :func:`wsgi_app` its WSGI form.
The web libraries are imported when one of these names is first used, so the CLI's plugin
module (:mod:`beatcore_web.plugin`) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beatcore_web.app import app_from_celery, create_app, wsgi_app
    from beatcore_web.config import WebConfig

__all__ = ["WebConfig", "app_from_celery", "create_app", "wsgi_app"]

_WHERE = {
    "WebConfig": "beatcore_web.config",
    "app_from_celery": "beatcore_web.app",
    "create_app": "beatcore_web.app",
    "wsgi_app": "beatcore_web.app",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use (the web libraries come with them)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'beatcore_web' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
