"""Passwords holding any character (``;`` and ``,`` included, which RFC 3986 allows raw in
userinfo) connect and never show: not in the store's URL, status, export or error messages."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from celery import Celery
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from beatcore.errors import BeatcoreError, ConfigurationError
from beatcore.testing.contract import every
from beatcore_redis.store import open_store
from beatcore_redis.urls import parse_url
from tests.support.redis_servers import RedisServer

SECRET = "s3;cr,et"

#: A password made of marker words (never part of a fixed message) and separators: no word of
#: it may appear in any output.
words = st.from_regex(r"\A[A-Z]{6}\Z")
separators = st.sampled_from(string.punctuation + " ")
passwords = st.lists(st.tuples(words, separators), min_size=1, max_size=4).map(
    lambda pairs: "".join(word + sep for word, sep in pairs)
)


def urls(password: str) -> list[str]:
    """Every URL form with ``password``, well formed or broken in one place."""
    return [
        f"redis://:{password}@cache:6380/2",
        f"redis://beat:{password}@cache:70000/0",
        f"redis://:{password}@cache:6379/zero",
        f"rediss://:{password}@cache/0?ssl_cert_reqs=maybe",
        f"redis://:{password}@cache/0?nosuch=1",
        f"redis+sentinel://:{password}@s1:26379,s2/0?master_name=mymaster",
        f"redis+sentinel://:{password}@s1:26379,s2:x/0?master_name=mymaster",
        f"sentinel://:{password}@s1:26379;sentinel://:{password}@s2/0?master_name=m",
        f"redis+cluster://:{password}@n1:7000,n2:7001/",
        f"redis+cluster://:{password}@n1:7000/3",
    ]


@example("AAAAAA!AAAAAA@AAAAAA?AAAAAA!")  # an @ before the ?, and one after it
@settings(max_examples=200, deadline=None)
@given(passwords)
def test_no_part_of_any_password_shows_in_parsed_urls_or_errors(password: str) -> None:
    secret_words = [password[i : i + 6] for i in range(0, len(password), 7)]
    for url in urls(password):
        try:
            spec = parse_url(url)
        except ConfigurationError as exc:
            shown = str(exc)
        else:
            shown = spec.masked_url
            if not any(c in password for c in "/?#%"):
                assert spec.password == password
        for word in secret_words:
            assert word not in shown, (url, shown)


@pytest.mark.parametrize("password", [SECRET, ";", ",", "a;b", "a,b", "x;y,z@w"])
def test_raw_and_encoded_separators_give_the_same_password(password: str) -> None:
    for url in (f"redis://:{password}@h/0", f"redis://:{quote(password, safe='')}@h/0"):
        spec = parse_url(url)
        assert spec.password == password
        assert spec.masked_url == "redis://:****@h/0"
    spec = parse_url(
        f"sentinel://:{password}@s1:26379;sentinel://:{password}@s2:26380/0",
        {"master_name": "m"},
    )
    assert spec.hosts == (("s1", 26379), ("s2", 26380)) and spec.password == password
    assert spec.masked_url == "sentinel://:****@s1:26379;sentinel://:****@s2:26380/0"


@pytest.mark.parametrize("raw", ["a/b", "a?b", "a#b", "12/0"])
def test_password_with_a_raw_delimiter_is_refused_with_how_to_encode(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="percent-encoded") as caught:
        parse_url(f"redis://beat:{raw}@h:6379/0")
    assert "redis://beat:****@h:6379/0" in str(caught.value)
    assert raw not in str(caught.value).replace("/0", "")
    assert unquote(quote(raw, safe="")) == raw  # the advice works:
    assert parse_url(f"redis://beat:{quote(raw, safe='')}@h:6379/0").password == raw


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of its own whose password is :data:`SECRET`."""
    server = RedisServer(tmp_path_factory.mktemp("redis-password"))
    server.start()
    try:
        with server.client() as client:
            client.config_set("requirepass", SECRET)
        yield server
    finally:
        server.stop()


def test_store_with_separator_password_connects_and_never_shows_it(
    guarded_server: RedisServer, tmp_path: Path
) -> None:
    for password in (SECRET, quote(SECRET, safe="")):
        url = f"redis://:{password}@{guarded_server.address}/0"
        store = open_store(url, {"key_prefix": "pw:"})
        try:
            store.save(every("job", 60))
            assert store.url == f"redis://:****@{guarded_server.address}/0"
            status = store.status()
            assert status.entry_count == 1 and SECRET not in repr(status)
        finally:
            store.close()

    wrong = f"redis://:{SECRET}x@{guarded_server.address}/0"
    with pytest.raises(BeatcoreError) as caught:
        open_store(wrong, {"key_prefix": "pw:", "retry_attempts": 1}).entries()
    assert "s3" not in str(caught.value) and "****" in str(caught.value)


def test_cli_status_and_export_mask_a_separator_password(guarded_server: RedisServer) -> None:
    from celery.bin.celery import celery

    app = Celery("pw", set_as_current=False)
    app.conf.beatcore_url = f"redis://:{SECRET}@{guarded_server.address}/0"
    app.conf.beatcore_key_prefix = "pw-cli:"
    runner = CliRunner()
    import tests.redis.test_url_passwords as here

    here.app = app  # type: ignore[attr-defined]
    target = "tests.redis.test_url_passwords:app"
    added = runner.invoke(celery, ["-A", target, "beatcore", "add", "job", "t", "--every", "1m"])
    assert added.exit_code == 0, added.output
    for args in (["status"], ["status", "--json"], ["export"]):
        result = runner.invoke(celery, ["-A", target, "beatcore", *args])
        assert result.exit_code in (0, 1, 2), result.output
        assert "s3" not in result.output and "cr,et" not in result.output, result.output
        assert "****" in result.output or args == ["export"]
    exported = json.loads(runner.invoke(celery, ["-A", target, "beatcore", "export"]).output)
    assert "s3" not in json.dumps(exported)
