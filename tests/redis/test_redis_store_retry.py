"""Transient outages are retried with backoff and logged once; permanent errors fail fast."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from beatcore.errors import ConfigurationError, StoreError, StoreUnavailable
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore_redis.store import RedisStore, open_store
from tests.support.redis_servers import RedisServer, wait_until

FAST_RETRY = {"retry_attempts": 400, "retry_backoff_base": 0.005, "retry_backoff_cap": 0.05}


class Collect(logging.Handler):
    """Keeps the beatcore.redis records; the test waits on them instead of sleeping."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in message for message in list(self.messages))


@pytest.fixture
def collected() -> Iterator[Collect]:
    handler = Collect()
    logger = logging.getLogger("beatcore.redis")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    process = RedisServer(tmp_path / "retry")
    process.start()
    yield process
    process.stop()


def test_operation_during_a_restart_succeeds_and_the_outage_is_logged_once(
    server: RedisServer, collected: Collect
) -> None:
    clock = FakeClock(T0)
    store = open_store(server.url, {"clock": clock, **FAST_RETRY})
    store.save(every("before", 60))
    lease = store.lock.acquire("tests", 30)
    assert lease is not None
    server.stop()  # everything was in memory only: the restarted server starts empty

    outcome: dict[str, Any] = {}

    def save_during_outage() -> None:
        try:
            outcome["state"] = store.save(every("during", 60))
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=save_during_outage)
    worker.start()
    wait_until(lambda: collected.count("is unreachable") == 1, 10, "the outage warning")
    server.start()  # same port
    worker.join(30)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert store.get("during").name == "during"
    assert collected.count("is unreachable") == 1
    assert collected.count("reachable again") == 1
    # the restart lost the scripts: the next script call reloads them after NOSCRIPT
    assert store.lock.acquire("tests", 30) is not None
    store.close()


def test_outage_longer_than_the_retries_raises_and_is_still_logged_once(
    server: RedisServer, collected: Collect
) -> None:
    store = open_store(server.url, {"retry_attempts": 3, "retry_backoff_base": 0.001,
                                    "retry_backoff_cap": 0.002})  # fmt: skip
    store.save(every("a", 60))
    server.stop()
    for _ in range(3):
        with pytest.raises(StoreUnavailable, match="unreachable after 3 attempts"):
            store.get("a")
    assert collected.count("is unreachable") == 1
    server.start()
    store.save(every("a", 60))
    assert collected.count("reachable again") == 1
    store.close()


def test_wrong_password_fails_fast_naming_the_setting(
    server: RedisServer, collected: Collect
) -> None:
    with server.client() as admin:
        admin.config_set("requirepass", "right")
    store = open_store(f"redis://:wrong@{server.host}:{server.port}/0", FAST_RETRY)
    with pytest.raises(StoreError) as caught:
        store.get("a")
    assert "refused the credentials" in str(caught.value)
    assert "beatcore_url" in str(caught.value)
    assert ":wrong@" not in str(caught.value)
    assert collected.count("is unreachable") == 0  # not retried as an outage
    store.close()
    with server.client(password="right") as admin:
        admin.config_set("requirepass", "")


def test_script_error_fails_fast_as_store_error(redis_server: Any) -> None:
    store: RedisStore = open_store(redis_server.url, {"key_prefix": "script-error:"})
    with pytest.raises(StoreError, match=r"Redis claim at redis://127\.0\.0\.1:\d+/0 failed"):
        store.calls.run_script("claim", "claim", [store.keys.lock], ["1"])  # too few keys
    store.close()


def test_missing_replica_acknowledgement_is_logged_once_and_tolerated(
    server: RedisServer, collected: Collect
) -> None:
    store = open_store(server.url, {"wait_replicas": 1, "wait_timeout": 0.01})
    store.save(every("a", 60))
    store.save(every("b", 60))
    lease = store.lock.acquire("tests", 30)
    assert lease is not None
    assert collected.count("only 0 of 1 replicas") == 1
    with server.client() as admin:
        admin.script_flush()
    store.lock.renew(lease)  # NOSCRIPT inside the EVALSHA+WAIT pipeline: loaded and re-run
    store.close()


def test_wait_options_are_checked(server: RedisServer) -> None:
    with pytest.raises(ConfigurationError, match="wait_replicas"):
        open_store(server.url, {"wait_replicas": -1})
    with pytest.raises(ConfigurationError, match="wait_timeout"):
        open_store(server.url, {"wait_replicas": 1, "wait_timeout": "soon"})
    with pytest.raises(ConfigurationError, match="not supported on Redis Cluster"):
        open_store("redis+cluster://127.0.0.1:1/", {"wait_replicas": 1})


def test_chunked_static_sync_waits_once_for_replicas_and_survives_noscript(
    server: RedisServer, collected: Collect, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beatcore_redis import static_sync

    monkeypatch.setattr(static_sync, "CHUNK", 2)
    store = open_store(
        server.url,
        {"wait_replicas": 1, "wait_timeout": 0.01, "key_prefix": "chunk-wait:"},
    )
    with server.client() as admin:
        admin.script_flush()
    report = store.sync_static([every(f"s{i}", 60, static=True) for i in range(5)])
    assert report.added == ("s0", "s1", "s2", "s3", "s4")
    assert [e.name for e in store.entries()] == ["s0", "s1", "s2", "s3", "s4"]
    assert collected.count("only 0 of 1 replicas") == 1
    store.close()


def test_a_claim_ahead_in_an_outage_raises_when_its_result_is_asked_for(
    server: RedisServer,
) -> None:
    """Store.claim_due_ahead: an outage when the claim is sent (here through the pool, the
    held connection being busy) is raised by the call of its function, not before, so the
    page being sent is not left unsent because of the next page's claim."""
    store = open_store(
        server.url,
        {"clock": FakeClock(T0), "retry_attempts": 2, "retry_backoff_base": 0.001},
    )
    try:
        lease = store.lock.acquire("tests", 30)
        assert lease is not None
        server.stop()
        with store.handle.calls.scripts.held.busy():
            ahead = store.claim_due_ahead(lease, T0, limit=10, reclaim_after=30)
        with pytest.raises(StoreUnavailable):
            ahead()
    finally:
        store.close()
