"""How the dashboard is served: read-only or not, who may use it, and where it may listen.

Credentials come from the app's settings (``beatcore_web_token``, ``beatcore_web_username``
and ``beatcore_web_password``), else from the environment (``BEATCORE_WEB_TOKEN``,
``BEATCORE_WEB_USERNAME``, ``BEATCORE_WEB_PASSWORD``); docs/web.rst lists them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

import attrs

from beatcore.errors import ConfigurationError

#: The settings (and environment variables, upper-cased) that hold credentials.
SETTING_NAMES = ("beatcore_web_token", "beatcore_web_username", "beatcore_web_password")


def _secret(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, got a {type(value).__name__}")
    return value


@attrs.frozen(repr=False)
class WebConfig:
    """What :func:`beatcore_web.create_app` serves.

    :param read_only: hide and refuse every change.
    :param token: a bearer token (``Authorization: Bearer ...``); a browser gives it as the
        password of HTTP basic authentication, with any user name.
    :param username: HTTP basic authentication's user name (with ``password``).
    :param password: its password.
    :param overdue_after: seconds past due that make an entry overdue
        (``beatcore_missed_threshold`` when opened by the command).
    :param probe_timeout: seconds ``/healthz`` waits for the store before answering 503.
    """

    read_only: bool = False
    token: str | None = None
    username: str | None = None
    password: str | None = None
    overdue_after: float = 60.0
    probe_timeout: float = 0.08

    def __attrs_post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise ConfigurationError(
                "beatcore_web_username and beatcore_web_password must be set together"
            )

    def __repr__(self) -> str:
        return f"WebConfig(read_only={self.read_only}, authenticated={self.authenticated})"

    @property
    def authenticated(self) -> bool:
        """True when a token or basic-auth credentials are set (every request must give them)."""
        return self.token is not None or self.password is not None

    @classmethod
    def from_settings(
        cls,
        conf: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        **values: Any,
    ) -> WebConfig:
        """Return the configuration of ``conf`` (the app's settings), else ``environ``.

        Called by ``celery beatcore web``; ``values`` are the other fields (``read_only``).
        """
        environ = os.environ if environ is None else environ
        found: dict[str, Any] = {}
        for name in SETTING_NAMES:
            value = conf.get(name)
            if value is None or value == "":
                value = environ.get(name.upper())
            found[name.removeprefix("beatcore_web_")] = _secret(value, name)
        return cls(**found, **values)


def is_loopback(host: str) -> bool:
    """Return True when ``host`` names only this machine (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, config: WebConfig) -> None:
    """Refuse to listen on ``host`` beyond this machine without authentication.

    Called by ``celery beatcore web`` before it starts the server.

    :raises ConfigurationError: naming the address and the settings that would allow it.
    """
    if not is_loopback(host) and not config.authenticated:
        raise ConfigurationError(
            f"refusing to listen on {host!r} without authentication: anyone who reaches it "
            "could change the schedule; set beatcore_web_token (or BEATCORE_WEB_TOKEN), or "
            "beatcore_web_username and beatcore_web_password, or listen on 127.0.0.1"
        )
