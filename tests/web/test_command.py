"""``celery beatcore web``: registered by its plugin, refusing to listen beyond this machine
without credentials; where credentials come from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from beatcore.errors import ConfigurationError
from beatcore_web.config import WebConfig, check_bind, is_loopback
from tests.core.cli_app import Cli, make_cli, one_line_error


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli("sqlite", tmp_path)


def test_the_verb_is_listed(cli: Cli) -> None:
    assert "web" in cli.ok("--help")
    help_text = cli.ok("web", "--help")
    assert "--read-only" in help_text and "127.0.0.1" in help_text


def test_a_public_address_needs_credentials(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BEATCORE_WEB_TOKEN", "BEATCORE_WEB_USERNAME", "BEATCORE_WEB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    line = one_line_error(cli("web", "--host", "0.0.0.0", "--port", "1"))
    assert "refusing to listen on '0.0.0.0' without authentication" in line
    assert "beatcore_web_token" in line


def test_loopback_and_bind_rules() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "10.0.0.1", "example.org", "::")))
    with pytest.raises(ConfigurationError, match="refusing"):
        check_bind("0.0.0.0", WebConfig())
    check_bind("0.0.0.0", WebConfig(token="t"))
    check_bind("0.0.0.0", WebConfig(username="u", password="p"))
    check_bind("127.0.0.1", WebConfig())


def test_credentials_from_settings_then_environment() -> None:
    env = {"BEATCORE_WEB_TOKEN": "from-env", "BEATCORE_WEB_USERNAME": "ops"}
    config = WebConfig.from_settings({"beatcore_web_password": "pw"}, env)
    assert (config.token, config.username, config.password) == ("from-env", "ops", "pw")
    assert (
        WebConfig.from_settings(
            {"beatcore_web_token": "conf"}, env | {"BEATCORE_WEB_PASSWORD": "x"}
        ).token
        == "conf"
    )
    assert "from-env" not in repr(config) and "pw" not in repr(config)
    with pytest.raises(ConfigurationError, match="together"):
        WebConfig(username="ops")
    with pytest.raises(ConfigurationError, match="must be a string"):
        WebConfig.from_settings({"beatcore_web_token": 5}, {})
