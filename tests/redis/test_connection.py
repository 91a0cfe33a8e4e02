"""URL parsing and client building: every URL form, and malformed ones."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from redis import Redis
from redis.sentinel import SentinelConnectionPool

from beatcore.errors import ConfigurationError
from beatcore.plugins import get_plugins
from beatcore.urls import mask_password
from beatcore_redis.connection import build_client
from beatcore_redis.keys import tagged_prefix
from beatcore_redis.store import RedisStore
from beatcore_redis.urls import parse_url


def test_plain_url_with_password_and_db() -> None:
    spec = parse_url("redis://:s3cret@cache.internal:6380/2")
    assert (spec.kind, spec.tls, spec.hosts, spec.db) == (
        "standalone",
        False,
        (("cache.internal", 6380),),
        2,
    )
    assert spec.password == "s3cret" and spec.username is None
    assert spec.masked_url == "redis://:****@cache.internal:6380/2"


def test_plain_url_defaults() -> None:
    spec = parse_url("redis://")
    assert spec.hosts == (("localhost", 6379),) and spec.db == 0
    assert parse_url("redis://h").hosts == (("h", 6379),)
    assert parse_url("redis://h:1/?db=3").db == 3


def test_username_password_are_url_decoded() -> None:
    spec = parse_url("redis://beat:p%40ss@h:6379/0")
    assert (spec.username, spec.password) == ("beat", "p@ss")
    assert mask_password("redis://beat:p%40ss@h:6379/0") == "redis://beat:****@h:6379/0"


def test_ipv6_host() -> None:
    assert parse_url("redis://[::1]:6390/0").hosts == (("::1", 6390),)


def test_rediss_takes_ssl_query_parameters() -> None:
    spec = parse_url(
        "rediss://:pw@h:6380/0?ssl_cert_reqs=CERT_REQUIRED&ssl_ca_certs=/etc/ca.pem"
        "&ssl_check_hostname=false&socket_timeout=2.5"
    )
    assert spec.tls
    assert spec.client_kwargs == {
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/etc/ca.pem",
        "ssl_check_hostname": False,
        "socket_timeout": 2.5,
    }


def test_tls_options_from_store_options_and_nested_ssl_dict() -> None:
    spec = parse_url(
        "rediss://h/0",
        {"ssl_certfile": "/c.pem", "ssl": {"ssl_keyfile": "/k.pem", "ssl_cert_reqs": "none"},
         "key_prefix": "x:", "clock": object(), "retry_attempts": 2},
    )  # fmt: skip
    assert spec.client_kwargs == {
        "ssl_certfile": "/c.pem",
        "ssl_keyfile": "/k.pem",
        "ssl_cert_reqs": "none",
    }


def test_sentinel_url() -> None:
    spec = parse_url("redis+sentinel://:pw@s1:26379,s2,s3:26380/1?master_name=mymaster")
    assert spec.kind == "sentinel" and not spec.tls
    assert spec.hosts == (("s1", 26379), ("s2", 26379), ("s3", 26380))
    assert (spec.db, spec.master_name, spec.password) == (1, "mymaster", "pw")
    assert parse_url("rediss+sentinel://s1/0?master_name=m").tls


def test_celery_sentinel_form_takes_master_name_from_options() -> None:
    spec = parse_url(
        "sentinel://:pw@s1:26379;sentinel://:pw@s2:26380/2", {"master_name": "mymaster"}
    )
    assert spec.kind == "sentinel"
    assert spec.hosts == (("s1", 26379), ("s2", 26380))
    assert (spec.db, spec.master_name, spec.password) == (2, "mymaster", "pw")
    assert mask_password("sentinel://:pw@s1:26379;sentinel://:pw@s2") == (
        "sentinel://:****@s1:26379;sentinel://:****@s2"
    )


def test_cluster_url() -> None:
    spec = parse_url("redis+cluster://:pw@n1:7000,n2:7001/")
    assert spec.kind == "cluster" and spec.hosts == (("n1", 7000), ("n2", 7001))
    assert parse_url("rediss+cluster://n1:7000").tls


@pytest.mark.parametrize(
    ("url", "options", "problem"),
    [
        ("redis://:hunter2@h:notaport/0", {}, "port 'notaport'"),
        ("redis://:hunter2@h:70000/0", {}, "port '70000'"),
        ("redis://:hunter2@h:6379/zero", {}, "database 'zero'"),
        ("redis://:hunter2@h1:1,h2:2/0", {}, "several hosts"),
        ("redis://:hunter2@h/0?sslcertreqs=none", {}, "unknown query parameter 'sslcertreqs'"),
        ("redis://:hunter2@h/0?ssl_ca_certs=/ca.pem", {}, "need a rediss:// URL"),
        ("rediss://:hunter2@h/0?ssl_cert_reqs=maybe", {}, "ssl_cert_reqs"),
        ("rediss://:hunter2@h/0?socket_timeout=soon", {}, "socket_timeout"),
        ("redis+sentinel://:hunter2@s1:26379/0", {}, "master_name"),
        ("sentinel://:hunter2@s1:26379;redis://s2:26379", {"master_name": "m"}, "sentinel://"),
        ("redis+cluster://:hunter2@n1:7000/3", {}, "only database 0"),
        ("redis+cluster://:hunter2@,/0", {}, "host is missing"),
        ("redis://:hunter2@h/0#frag", {}, "fragment"),
    ],
)
def test_malformed_url_names_url_and_problem_without_password(
    url: str, options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_url(url, options)
    message = str(caught.value)
    assert problem in message
    assert "hunter2" not in message
    assert "****" in message


def test_unknown_client_option_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"not accepted by redis-py.*no_such_option"):
        build_client(parse_url("redis://h/0", {"no_such_option": 1}))


def test_bad_retry_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="retry_attempts"):
        get_plugins().store_from_url("redis://h/0", {"retry_attempts": 0})


def test_build_client_kinds() -> None:
    plain = build_client(parse_url("rediss://:pw@h:6380/3?ssl_cert_reqs=none"))
    assert isinstance(plain, Redis)
    kwargs = plain.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (
        "h",
        6380,
        3,
        "pw",
    )
    assert kwargs["ssl_cert_reqs"] == "none"
    sentinel = build_client(parse_url("redis+sentinel://s1:26379/1?master_name=mymaster"))
    assert isinstance(sentinel.connection_pool, SentinelConnectionPool)
    assert sentinel.connection_pool.service_name == "mymaster"


def test_plugin_opens_every_scheme_and_masks_the_password() -> None:
    plugins = get_plugins()
    for url in (
        "redis://:pw@127.0.0.1:1/0",
        "rediss://:pw@127.0.0.1:1/0",
        "redis+sentinel://:pw@127.0.0.1:1/0?master_name=m",
        "sentinel://:pw@127.0.0.1:1",
    ):
        store = plugins.store_from_url(url, {"master_name": "m", "key_prefix": "beatcore:"})
        assert isinstance(store, RedisStore)
        assert "pw" not in store.url and "****" in store.url
        store.close()


@pytest.mark.parametrize(
    ("prefix", "base"),
    [("beatcore:", "{beatcore}:"), ("app:beat", "{app:beat}:"), ("{t}:x:", "{t}:x:")],
)
def test_key_prefix_becomes_one_hash_tag(prefix: str, base: str) -> None:
    assert tagged_prefix(prefix) == base


@pytest.mark.parametrize("prefix", ["", ":", "a{b", "{}:", "a}b{"])
def test_bad_key_prefix(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="beatcore_key_prefix"):
        tagged_prefix(prefix)


def test_logger_name() -> None:
    assert logging.getLogger("beatcore.redis").name == "beatcore.redis"
