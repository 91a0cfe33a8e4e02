"""Refusals as the client sees them: JSON naming the field and the reason, the right status.

Every error a request meets ends here; an unexpected one is logged in full on the server and
answered with a plain message, never a traceback, a store password or a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery.utils.log import get_logger
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from beatcore.errors import (
    BeatcoreError,
    ChangeRefused,
    ConfigurationError,
    CorruptRecord,
    EntryNotFound,
    StoreUnavailable,
)
from beatcore.urls import mask_password

logger = get_logger("beatcore.web")


class ApiError(Exception):
    """A refusal: ``status``, the ``reason``, and the fields it is about (``fields``)."""

    def __init__(self, status: int, reason: str, fields: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.fields = dict(fields or {})
        super().__init__(reason)


def error_body(status: int, reason: str, fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the JSON of a refusal: ``{"error": {"status", "reason", "field", "fields"}}``."""
    fields = dict(fields or {})
    return {
        "error": {
            "status": status,
            "reason": reason,
            "field": next(iter(fields), None),
            "fields": fields,
        }
    }


def as_api_error(exc: BaseException) -> ApiError:
    """Return the refusal an exception stands for (500 for anything not expected)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HTTPException):
        return ApiError(exc.status_code, str(exc.detail))
    if isinstance(exc, ChangeRefused):
        if exc.field:
            return ApiError(422, str(exc), {exc.field: str(exc)})
        if exc.kind == "static":  # the core's words offer the CLI's --force, not here
            return ApiError(
                409,
                f"entry {exc.name!r} is static: beat_schedule owns it and beat restores it "
                "from there at its next start, so change it in beat_schedule",
                {"name": "static entry"},
            )
        return ApiError(409, str(exc), {"name": exc.kind})
    if isinstance(exc, EntryNotFound):
        return ApiError(404, str(exc), {"name": "no such entry"})
    if isinstance(exc, CorruptRecord):
        return ApiError(409, str(exc))
    if isinstance(exc, StoreUnavailable):
        return ApiError(503, mask_password(str(exc)))
    if isinstance(exc, ConfigurationError | BeatcoreError):
        return ApiError(400 if isinstance(exc, ConfigurationError) else 409, str(exc))
    logger.error("beatcore web: unexpected error", exc_info=exc)
    return ApiError(500, "internal error (the dashboard's log has the details)")


async def json_error(request: Request, exc: Exception) -> Response:
    """Answer any error of an API request as JSON (an exception handler of the app)."""
    error = as_api_error(exc)
    headers = {"WWW-Authenticate": 'Basic realm="beatcore"'} if error.status == 401 else None
    return JSONResponse(
        error_body(error.status, error.reason, error.fields), error.status, headers=headers
    )
