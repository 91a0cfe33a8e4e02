"""Who may use the dashboard, and forms that only the dashboard's own pages can send.

Authentication (when configured) is HTTP basic authentication or a bearer token, compared in
constant time. Forms carry a CSRF token: a random value kept in a cookie and repeated in a
hidden field; a form whose field does not equal its cookie is refused. The JSON API takes
changes only as ``application/json``, which a page of another site cannot send without the
browser asking first (a CORS preflight this app never answers).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Mapping

from beatcore_web.config import WebConfig

#: The cookie and the form field that carry the CSRF token.
CSRF_COOKIE = "beatcore_csrf"
CSRF_FIELD = "csrf_token"
#: The user name recorded as ``by`` for a request made with the bearer token.
TOKEN_USER = "token"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def authenticate(config: WebConfig, authorization: str | None) -> str | None:
    """Return who made a request with this ``Authorization`` header, or None when refused.

    Called for every request when :attr:`WebConfig.authenticated`; without credentials
    configured everyone is ``""`` (anonymous). Both comparisons of a basic-auth pair are
    made, so the time taken says nothing about which part was wrong.
    """
    if not config.authenticated:
        return ""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        if config.token is not None and _same(value, config.token):
            return TOKEN_USER
        return None
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep:
        return None
    if config.password is not None and config.username is not None:
        user_ok = _same(user, config.username)
        if _same(password, config.password) & user_ok:
            return user
    if config.token is not None and _same(password, config.token):
        return user or TOKEN_USER
    return None


def new_csrf_token() -> str:
    """Return a fresh CSRF token (set as the cookie when a page is shown without one)."""
    return secrets.token_urlsafe(32)


def csrf_ok(cookies: Mapping[str, str], form_value: object) -> bool:
    """Return True when a form's CSRF field equals its cookie (both present)."""
    cookie = cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(form_value, str) or not form_value:
        return False
    return _same(form_value, cookie)
