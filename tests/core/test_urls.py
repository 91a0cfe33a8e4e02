"""Password masking of store URLs (``beatcore.urls.mask_password``), over every character a
password may hold, raw or percent-encoded, in every URL form."""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from beatcore.urls import mask_password, split_urls

#: Printable characters beside letters and digits (RFC 3986 allows ``;`` and ``,`` raw).
PUNCTUATION = string.punctuation + " "
passwords = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + PUNCTUATION)
    | st.characters(blacklist_categories=("Cs",)),
    min_size=1,
    max_size=30,
)


def forms(password: str) -> list[tuple[str, str]]:
    """(URL with ``password``, the same URL masked) in every form a store URL takes."""
    return [
        (f"redis://:{password}@cache:6380/2", "redis://:****@cache:6380/2"),
        (f"redis://beat:{password}@cache/0", "redis://beat:****@cache/0"),
        (f"rediss://:{password}@cache:6380/0?ssl_cert_reqs=required",
         "rediss://:****@cache:6380/0?ssl_cert_reqs=required"),
        (f"redis+sentinel://:{password}@s1:26379,s2:26379,s3/1?master_name=mymaster",
         "redis+sentinel://:****@s1:26379,s2:26379,s3/1?master_name=mymaster"),
        (f"sentinel://:{password}@s1:26379;sentinel://:{password}@s2:26380/0",
         "sentinel://:****@s1:26379;sentinel://:****@s2:26380/0"),
        (f"redis+cluster://:{password}@n1:7000,n2:7001/", "redis+cluster://:****@n1:7000,n2:7001/"),
        (f"rediss+cluster://u:{password}@n1:7000", "rediss+cluster://u:****@n1:7000"),
        (f"postgresql://beat:{password}@db:5432/beat", "postgresql://beat:****@db:5432/beat"),
    ]  # fmt: skip


@pytest.mark.parametrize("password", ["s3;cr,et", ";", ",", "a;b,c;d", "p@ss", "a/b?c#d", "::"])
def test_passwords_with_separators_are_masked(password: str) -> None:
    for url, masked in forms(password):
        assert mask_password(url) == masked


@settings(max_examples=300, deadline=None)
@given(passwords)
def test_any_raw_password_is_masked_in_every_form(password: str) -> None:
    # a raw "://" after a ";" would start a new URL of a multi-URL form
    assume("://" not in password)
    for url, masked in forms(password):
        assert mask_password(url) == masked


@settings(max_examples=300, deadline=None)
@given(passwords)
def test_any_percent_encoded_password_is_masked_in_every_form(password: str) -> None:
    for url, masked in forms(quote(password, safe="")):
        assert mask_password(url) == masked


def test_urls_without_password_are_unchanged() -> None:
    for url in [
        "redis://host:6379/0",
        "redis://user@host/0",
        "redis+sentinel://a:26379,b:26379/0?master_name=m",
        "memory://name",
        "sqlite:///var/lib/beat@1.db",
        "sqlite:///C:/beat.db",
        "not a url",
    ]:
        assert mask_password(url) == url


def test_split_urls_keeps_a_semicolon_inside_a_password() -> None:
    assert split_urls("sentinel://:a;b@s1;sentinel://:a;b@s2/0") == [
        "sentinel://:a;b@s1",
        "sentinel://:a;b@s2/0",
    ]
    assert split_urls("redis://:s3;cr,et@host/0") == ["redis://:s3;cr,et@host/0"]
