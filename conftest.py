"""Shared fixtures: real Redis and PostgreSQL servers on free 127.0.0.1 ports.

Every server fixture is session-scoped and lazy: a server starts the first time a test asks for
it, and a test run that asks for none starts none. The process code lives in
``tests/support/`` (``servers.py`` for what every server shares, ``redis_servers.py`` and
``postgres_server.py``); each fixture here is ``yield from serve(the server)``. Which tests
share a pytest-xdist worker is said in ``tests/support/worker_groups.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.certificates import make_certificates
from tests.support.postgres_server import PostgresServer
from tests.support.redis_servers import (
    RedisClusterGroup,
    RedisSentinelGroup,
    RedisServer,
    TlsRedisServer,
)
from tests.support.servers import serve

pytest_plugins = ["tests.support.worker_groups"]

REAL_SERVER_FIXTURES = frozenset(
    {"redis_server", "redis_db", "redis_sentinel", "redis_cluster", "redis_tls"}
)
"""Fixtures that start a real ``redis-server``; tests using them get the ``redis_server`` mark."""


POSTGRES_SERVER_FIXTURES = frozenset({"postgres_server"})
"""Fixtures that start a real PostgreSQL server; tests using them get the ``postgres_server``
mark."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that need a real server, so ``-m "not redis_server"`` (or
    ``-m "not postgres_server"``) deselects them."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if REAL_SERVER_FIXTURES & fixtures:
            item.add_marker(pytest.mark.redis_server)
        if POSTGRES_SERVER_FIXTURES & fixtures:
            item.add_marker(pytest.mark.postgres_server)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A standalone ``redis-server`` for the whole session (``.host``, ``.port``, ``.url``,
    ``.client(db)``). Tests share it: use distinct db numbers or key prefixes, or ``redis_db``."""
    yield from serve(RedisServer(tmp_path_factory.mktemp("redis-server")))


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's ``redis_server``, emptied (FLUSHALL) before the test."""
    with redis_server.client() as client:
        client.flushall()
    yield redis_server


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelGroup]:
    """A master, a replica and three sentinels (quorum 2) watching ``mymaster``; ``.url`` is
    the ``redis+sentinel://`` URL and ``.failover()`` forces and awaits a failover."""
    yield from serve(RedisSentinelGroup(tmp_path_factory.mktemp("redis-sentinel")))


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterGroup]:
    """A Redis Cluster of three masters; ``.url`` is the ``redis+cluster://`` URL."""
    yield from serve(RedisClusterGroup(tmp_path_factory.mktemp("redis-cluster")))


@pytest.fixture(scope="session")
def redis_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedisServer]:
    """A ``redis-server`` listening only with TLS, its certificates made by a fresh test CA;
    ``.url`` is the ``rediss://`` URL with ``ssl_ca_certs`` and ``ssl_cert_reqs=required``."""
    workdir = tmp_path_factory.mktemp("redis-tls")
    yield from serve(TlsRedisServer(workdir / "server", make_certificates(workdir / "certs")))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (``.url``, ``.url_for(db)``,
    ``.create_database()``, ``.restart()``), run as the ``postgres`` user when the tests run
    as root. Tests share it: use a schema or database of their own."""
    yield from serve(PostgresServer())
