"""PostgreSQL URLs: libpq parameters passed through, beatcore's schema taken out, passwords
masked everywhere (no server needed)."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

import beatcore
from beatcore.errors import ConfigurationError
from beatcore_postgres.plugin import open_store
from beatcore_postgres.urls import DEFAULT_SCHEMA, mask_url, parse_url


def test_libpq_parameters_pass_through_and_schema_is_taken_out() -> None:
    spec = parse_url(
        "postgresql://beat:p%40ss@db1:5433,db2/sched?sslmode=verify-full"
        "&sslrootcert=/etc/ca.pem&schema=team_a&target_session_attrs=read-write",
        {},
    )
    params = conninfo_to_dict(spec.conninfo)
    assert params["user"] == "beat"
    assert params["password"] == "p@ss"
    assert params["host"] == "db1,db2"
    assert params["port"] == "5433,"
    assert params["dbname"] == "sched"
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == "/etc/ca.pem"
    assert params["target_session_attrs"] == "read-write"
    assert "schema" not in params
    assert spec.schema == "team_a"
    assert spec.channel == "beatcore_team_a"


def test_postgres_scheme_defaults_and_options_schema() -> None:
    spec = parse_url("postgres://localhost/db", {})
    assert spec.schema == DEFAULT_SCHEMA
    params = conninfo_to_dict(spec.conninfo)
    assert params["connect_timeout"] == "5"
    assert params["application_name"] == "beatcore"
    assert parse_url("postgres://localhost/db", {"schema": "b2"}).schema == "b2"
    kept = parse_url("postgresql://h/db?connect_timeout=1&application_name=mine", {})
    assert conninfo_to_dict(kept.conninfo)["connect_timeout"] == "1"
    assert conninfo_to_dict(kept.conninfo)["application_name"] == "mine"


def test_percent_encoding_reaches_libpq_unchanged() -> None:
    spec = parse_url("postgresql://u:a+b%20c@h/db?options=-c%20statement_timeout%3D5s", {})
    params = conninfo_to_dict(spec.conninfo)
    assert params["password"] == "a+b c"
    assert params["options"] == "-c statement_timeout=5s"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://beat:hunter2@db/sched",
        "postgresql://beat:hunter2@db/sched?sslmode=require",
        "postgresql://db/sched?user=beat&password=hunter2",
        "postgres://beat:hun;ter,2@db:5432/sched",
    ],
)
def test_password_is_masked(url: str) -> None:
    masked = mask_url(url)
    assert "hunter2" not in masked and "hun;ter,2" not in masked
    assert "****" in masked
    assert parse_url(url, {}).masked_url == masked
    assert "hunter2" not in repr(parse_url(url, {}))


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("postgresql://u:hunter2@h/db?frobnicate=1", {}, "invalid URI query parameter"),
        ("postgresql://u:hunter2@h:99999/db", {}, "port '99999'"),
        ("postgresql://u:hunter2@h/db?schema=Team", {}, "lowercase identifier"),
        ("postgresql://u:hunter2@h/db?schema=a&schema=b", {}, "more than once"),
        ("postgresql://u:hunter2@h/db?schema=a", {"schema": "b"}, "name it in one place"),
        ("postgresql://u:hunter2@h/db", {"schema": 3}, "lowercase identifier"),
    ],
)
def test_bad_urls_say_what_is_wrong_without_the_password(
    url: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_url(url, options)
    assert "hunter2" not in str(caught.value)


def test_unknown_and_bad_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown PostgreSQL store option.*'pool'"):
        open_store("postgresql://h/db", {"pool": 3})
    for name, value in (("pool_size", 0), ("retry_attempts", True), ("pool_timeout", -1.0)):
        with pytest.raises(ConfigurationError, match=name):
            open_store("postgresql://h/db", {name: value})


def test_url_reaches_the_store_through_the_plugin_hook() -> None:
    from celery import Celery

    app = Celery("pg-url-test", set_as_current=False)
    app.conf.beatcore_url = "postgresql://beat:hunter2@127.0.0.1:1/sched?schema=s1"
    store = beatcore.connect(app)
    try:
        assert store.url == "postgresql://beat:****@127.0.0.1:1/sched?schema=s1"
        assert type(store).__name__ == "PostgresStore"
    finally:
        store.close()
