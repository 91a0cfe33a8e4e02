"""The PostgreSQL test server itself: reachable on loopback, password checked, restartable."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.postgres_server import PostgresServer


def test_server_accepts_its_password_and_refuses_another(
    postgres_server: PostgresServer,
) -> None:
    with psycopg.connect(postgres_server.url, connect_timeout=5) as conn:
        row = conn.execute("SELECT current_user, inet_server_addr()::text").fetchone()
    assert row is not None
    assert row[0] == postgres_server.user
    assert row[1].startswith("127.0.0.1")
    wrong = postgres_server.url.replace(postgres_server.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_created_database_is_empty_and_usable(postgres_server: PostgresServer) -> None:
    name = postgres_server.create_database()
    with psycopg.connect(postgres_server.url_for(name), connect_timeout=5) as conn:
        count = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog',"
            " 'information_schema')"
        ).fetchone()
    assert count == (0,)
