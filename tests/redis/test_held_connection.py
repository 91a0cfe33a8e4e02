"""The Redis store's held connection for script calls, on a real redis-server.

A store keeps one pooled connection for its script calls (:mod:`beatcore_redis.held`). These
tests hold what that must not change: a killed connection costs no outage, an error reply
leaves the connection usable, two threads never share it, a forked child never writes on
its parent's socket, and closing the store gives it back.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from beatcore.entry import Entry
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0, every
from beatcore_redis import held as held_module
from beatcore_redis.held import HeldConnection, held_connection, holds
from beatcore_redis.store import RedisStore, open_store


@pytest.fixture
def store(redis_server: Any) -> Iterator[RedisStore]:
    prefix = f"held-{uuid.uuid4().hex[:12]}:"
    opened = open_store(redis_server.url, {"clock": FakeClock(T0), "key_prefix": prefix})
    yield opened
    opened.close()


def _entry(name: str) -> Entry:
    return every(name)


def _held(store: RedisStore) -> Any:
    """The connection the store holds now (None: none)."""
    return store.handle.calls.scripts.held.connection


def _held_id(store: RedisStore) -> int:
    """The server-side id of the store's held connection (it is checked out by then)."""
    conn = _held(store)
    assert conn is not None, "no connection is held after a script call"
    conn.send_command("CLIENT", "ID")
    return int(conn.read_response())


def test_only_a_plain_standalone_client_holds_a_connection(redis_server: Any) -> None:
    plain = redis.Redis(host=redis_server.host, port=redis_server.port)
    single = redis.Redis(
        host=redis_server.host, port=redis_server.port, single_connection_client=True
    )
    sentinel_pool = SentinelConnectionPool("mymaster", sentinel_manager=None)
    try:
        assert holds(plain)
        assert not holds(single)
        assert not holds(redis.Redis(connection_pool=sentinel_pool))
        assert not holds(object())
    finally:
        plain.close()
        single.close()


class _OwnSend(redis.Connection):
    """A connection class that sends commands its own way (a tracing wrapper, say)."""

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        super().send_command(*args, **kwargs)


def test_a_client_packing_its_own_way_keeps_the_pool_path(redis_server: Any) -> None:
    """Calls on a held connection may be packed by the store itself: a connection class
    overriding how commands are packed or sent, or a pool given a command packer, would
    not see them, so such a client holds none; redis-py's own classes (TLS too) do."""
    own = redis.ConnectionPool(
        connection_class=_OwnSend, host=redis_server.host, port=redis_server.port
    )
    packer = redis.connection.PythonRespSerializer(
        6000, redis.connection.Encoder("utf-8", "strict", False).encode
    )
    packed = redis.ConnectionPool(
        host=redis_server.host, port=redis_server.port, command_packer=packer
    )
    tls = redis.Redis(host=redis_server.host, port=redis_server.port, ssl=True)
    assert not holds(redis.Redis(connection_pool=own))
    assert not holds(redis.Redis(connection_pool=packed))
    assert holds(tls)
    client = redis.Redis(connection_pool=own)
    store = open_store(redis_server.url, {"client": client, "key_prefix": "own-send:"})
    try:
        store.save(_entry("a"))
        assert store.get("a").name == "a" and _held(store) is None
    finally:
        store.close()
        client.close()
        tls.close()


def test_script_calls_reuse_one_connection(store: RedisStore, redis_server: Any) -> None:
    store.save(_entry("a"))
    first = _held_id(store)
    for name in ("b", "c", "d"):
        store.save(_entry(name))
    assert _held_id(store) == first
    assert sorted(entry.name for entry in store.entries()) == ["a", "b", "c", "d"]


def test_a_killed_connection_is_replaced_without_an_outage(
    store: RedisStore, redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(_entry("before"))
    killed = _held_id(store)
    admin = redis_server.client()
    try:
        assert admin.client_kill_filter(_id=killed) == 1
    finally:
        admin.close()
    with caplog.at_level(logging.WARNING, logger="beatcore.redis"):
        store.save(_entry("after"))
    assert store.get("after").name == "after"
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]
    store.save(_entry("later"))  # on a fresh held connection
    assert _held_id(store) != killed


def test_an_error_reply_keeps_the_connection(store: RedisStore, redis_server: Any) -> None:
    store.save(_entry("a"))
    before = _held_id(store)
    admin = redis_server.client()
    try:
        admin.script_flush()  # the next EVALSHA is answered NOSCRIPT, then loaded and resent
    finally:
        admin.close()
    store.save(_entry("b"))
    assert _held_id(store) == before
    assert store.get("b").name == "b"


def test_a_batch_of_write_calls_goes_on_the_held_connection(
    store: RedisStore, redis_server: Any
) -> None:
    """save_many's calls of 1,000 entries are sent in one write on the held connection; the
    calls a flushed script cache answers NOSCRIPT are sent again once loaded, on it too."""
    store.save(_entry("a"))
    before = _held_id(store)
    admin = redis_server.client()
    try:
        admin.script_flush()
    finally:
        admin.close()
    report = store.save_many([_entry(f"m-{i:04d}") for i in range(2_500)])
    assert len(report.states) == 2_500 and not report.refused
    assert _held_id(store) == before
    assert store.get("m-2499").name == "m-2499"
    again = store.save_many([_entry(f"m-{i:04d}") for i in range(2_500)])
    assert again.states == report.states  # equal definitions: states kept


def test_a_batch_whose_connection_drops_is_sent_again_without_an_outage(
    store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The held connection failing once a batch of write calls is sent on it costs what a
    pipeline's immediate retry costs: the calls go again through the pool, with no backoff
    and no outage warning, and every entry is stored once."""
    store.save(_entry("a"))
    conn = _held(store)
    sent = conn.send_packed_command

    def send_then_drop(command: Any, check_health: bool = True) -> None:
        del conn.send_packed_command  # once: the connection's own method from now on
        sent(command, check_health)
        conn._sock.shutdown(socket.SHUT_RDWR)

    conn.send_packed_command = send_then_drop
    names = [f"m-{i:04d}" for i in range(2_500)]
    with caplog.at_level(logging.WARNING, logger="beatcore.redis"):
        report = store.save_many([_entry(name) for name in names])
    assert "send_packed_command" not in vars(conn), "the batch never went on the held connection"
    assert len(report.states) == 2_500 and not report.refused
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert sorted(entry.name for entry in store.entries()) == sorted(["a", *names])
    assert all(report.states[name] == store.state(name) for name in names[::250])


def test_threads_never_share_the_held_connection(store: RedisStore) -> None:
    errors: list[BaseException] = []

    def save_many(prefix: str) -> None:
        try:
            for i in range(150):
                store.save(_entry(f"{prefix}-{i}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=save_many, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.entries()) == 600
    for n in range(4):
        assert store.get(f"t{n}-149").name == f"t{n}-149"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_a_connection_of_its_own(store: RedisStore) -> None:
    store.save(_entry("parent-1"))
    parent_conn = _held(store)
    pid = os.fork()
    if pid == 0:  # the child: saves on its own connection, never on the parent's socket
        code = 1
        try:
            for i in range(50):
                store.save(_entry(f"child-{i}"))
            code = 0 if _held(store) is not parent_conn else 2
        finally:
            os._exit(code)
    for i in range(50):  # the parent meanwhile, on its held connection
        store.save(_entry(f"parent-{i + 2}"))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _held(store) is parent_conn
    names = {entry.name for entry in store.entries()}
    assert {f"child-{i}" for i in range(50)} <= names
    assert {f"parent-{i}" for i in range(1, 52)} <= names


def test_a_call_through_the_pool_takes_the_held_connection(store: RedisStore) -> None:
    store.save(_entry("a"))
    held = _held_id(store)
    store.get("a")  # a pipeline: it borrows the same connection, the store opens no other
    assert _held(store) is None
    assert len(store.client.connection_pool._available_connections) == 1
    store.save(_entry("b"))
    assert _held_id(store) == held


def test_closing_the_store_gives_the_connection_back(redis_server: Any) -> None:
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    opened = open_store(redis_server.url, {"client": client, "key_prefix": "held-close:"})
    try:
        opened.save(_entry("a"))
        pool = client.connection_pool
        assert len(pool._in_use_connections) == 1
        opened.close()
        assert len(pool._in_use_connections) == 0
    finally:
        client.delete(*client.keys("[{]held-close[}]:*") or ["{held-close}:none"])
        client.close()


def test_a_busy_held_connection_sends_through_the_pool(redis_server: Any) -> None:
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    held = HeldConnection(client)
    try:
        assert held.execute("ECHO", "held") == b"held"
        conn = held.connection
        assert conn is not None
        assert held.execute("ECHO", "again") == b"again"
        assert held.connection is conn
        with held.busy():  # another thread is in the middle of a call
            assert held.execute("ECHO", "via pool") == b"via pool"
            assert len(client.connection_pool._in_use_connections) == 1
    finally:
        held.release()
        client.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_during_a_call_can_use_and_close_the_store(store: RedisStore) -> None:
    """A fork while another thread is inside a script call copies the held mutex locked:
    the child still saves and closes (it neither hangs nor uses the parent's socket)."""
    store.save(_entry("a"))
    busy = store.handle.calls.scripts.held.busy()
    with busy:  # as if a thread were mid-call at the fork
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.alarm(20)  # a hang fails the test instead of blocking the suite
                store.save(_entry("child"))
                store.close()
                code = 0
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get("child").name == "child"


def test_closing_never_waits_for_a_call_in_progress(store: RedisStore) -> None:
    """Beat closes its store from the SIGTERM handler, which may have interrupted this very
    thread inside a script call (the held mutex taken): the close returns at once, and the
    interrupted call gives the connection back itself."""
    store.save(_entry("a"))
    held = store.handle.calls.scripts.held
    closed = threading.Event()
    with held.busy():  # the call the handler interrupted
        closer = threading.Thread(target=lambda: (store.close(), closed.set()), daemon=True)
        closer.start()
        closer.join(timeout=10)
        assert closed.is_set(), "Store.close waited for the call in progress"


def test_a_command_sent_after_an_unread_one_reads_that_reply_first(
    store: RedisStore, redis_server: Any
) -> None:
    """A reply left outstanding is read by the next command this thread sends on the held
    connection (kept for its own reader), never taken as that command's reply; another
    thread meanwhile goes through the pool."""
    store.save(_entry("a"))  # checks the held connection out
    held = store.handle.calls.scripts.held
    outstanding = held.send("ECHO", "first")
    assert outstanding is not None and outstanding.pending
    seen: list[Any] = []
    other = threading.Thread(target=lambda: seen.append(held.execute("ECHO", "other")))
    other.start()
    other.join()
    assert seen == [b"other"] and outstanding.pending, "the other thread used the pool"
    assert held.execute("ECHO", "second") == b"second"
    assert not outstanding.pending
    assert outstanding.read() == b"first"
    with pytest.raises(RuntimeError):
        outstanding.read()
    assert not held.busy().locked()


def test_a_client_dropped_by_its_owner_leaves_no_held_connection_behind() -> None:
    """The registry of held connections is weak: a process that opens and closes stores
    (the dashboard, a management script) does not keep every client it ever made."""
    made = []
    for _ in range(20):
        client = redis.Redis(host="127.0.0.1", port=1)
        held_connection(client)
        made.append(weakref.ref(client))
    assert any(ref() in held_module._REGISTRY for ref in made[-1:])
    del client
    gc.collect()
    assert [ref() for ref in made] == [None] * 20, "the registry keeps clients alive"


def test_a_read_after_an_interrupted_one_raises_instead_of_returning_none(
    store: RedisStore,
) -> None:
    """A KeyboardInterrupt while waiting for a reply leaves no None to be read as the reply."""
    held = store.handle.calls.scripts.held
    reply = held.send("PING")
    assert reply is not None
    conn = reply._conn

    def interrupted() -> Any:
        raise KeyboardInterrupt

    conn.read_response = interrupted
    with pytest.raises(KeyboardInterrupt):
        reply.settle()
    del conn.read_response  # the pool may lend the same (reconnected) connection again
    with pytest.raises(redis.exceptions.ConnectionError, match="interrupted"):
        reply.read()
    assert held.execute("PING")  # the connection was given back: the next call works
