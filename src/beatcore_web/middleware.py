"""The ASGI middleware every request passes: authentication and the security headers."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beatcore_web.config import WebConfig
from beatcore_web.errors import error_body
from beatcore_web.security import authenticate

#: Sent with every response: no framing, no sniffing, scripts and styles only from here.
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; "
        b"form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


#: Answered without authentication: the probe says only whether a leader ticked lately.
OPEN_PATHS = frozenset({"/healthz"})


def route_path(scope: Scope) -> str:
    """Return the request's path inside the dashboard (without the path it is mounted at)."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


class Guard:
    """Refuse unauthenticated requests (401) when credentials are configured; add headers.

    The user a request was made by is put in ``scope["beatcore_user"]``.
    """

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection (HTTP; lifespan and others pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        raw = headers.get(b"authorization")
        who = authenticate(self.config, raw.decode("latin-1") if raw is not None else None)
        if who is None and route_path(scope) in OPEN_PATHS:
            who = ""
        if who is None:
            body = json.dumps(
                error_body(
                    401,
                    "authentication required: HTTP basic credentials or "
                    "'Authorization: Bearer <token>'",
                )
            ).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Basic realm="beatcore"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope["beatcore_user"] = who
        await self.app(scope, receive, send_with_headers)
