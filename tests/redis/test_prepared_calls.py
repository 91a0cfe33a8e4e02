"""A prepared script call sends the bytes redis-py's own packer would send for the same
command, with hiredis and without it."""

from __future__ import annotations

from typing import Any

import pytest
from redis.connection import HiredisRespSerializer, PythonRespSerializer
from redis.utils import HIREDIS_AVAILABLE

from beatcore_redis import scripts
from beatcore_redis.scripts import PreparedCall

KEYS = ["{p}:defs", "{p}:states"]
FIXED = ["1", "m", "0", ""]
ARGS: list[Any] = ["put", "nämé", "?", b"", '{"v":1}', b"\x00\xff", "", "0"]


def command() -> tuple[Any, ...]:
    return ("EVALSHA", "a" * 40, "2", *KEYS, *FIXED, *ARGS)


@pytest.mark.skipif(not HIREDIS_AVAILABLE, reason="hiredis is not installed")
def test_with_hiredis_the_bytes_of_redis_py_s_hiredis_packer() -> None:
    call = PreparedCall("write", "a" * 40, KEYS, FIXED)
    expected = b"".join(HiredisRespSerializer().pack(*command()))
    assert call.pack(ARGS) == expected
    assert call.pack(ARGS) == expected  # the second call reuses the packed head
    assert call.pack(ARGS[:2]) == b"".join(HiredisRespSerializer().pack(*command()[:-6]))


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_without_hiredis_the_bytes_of_redis_py_s_python_packer(
    monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    from redis._parsers.encoders import Encoder  # type: ignore[import-untyped]

    monkeypatch.setattr(scripts, "_pack_command", None)
    call = PreparedCall("write", "a" * 40, KEYS, FIXED, (encoding, "strict"))
    packer = PythonRespSerializer(6000, Encoder(encoding, "strict", False).encode)
    assert call.pack(ARGS) == b"".join(packer.pack(*command()))
    assert call.command == command()[: -len(ARGS)]


def test_a_started_script_call_sends_the_bytes_of_redis_py_s_packer(
    monkeypatch: pytest.MonkeyPatch, redis_db: Any
) -> None:
    """Scripts.send (a claim ahead, an ack part) packs its command itself, with hiredis
    when installed, else through the connection as before: the same bytes either way, and
    the call answers as any other."""
    from redis.connection import Connection

    sent: list[bytes] = []
    original = Connection.send_packed_command

    def recording(conn: Any, command: Any, check_health: bool = True) -> None:
        sent.append(b"".join([command] if isinstance(command, bytes) else command))
        original(conn, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", recording)
    client = redis_db.client()
    try:
        with_scripts = scripts.Scripts(client)
        with_scripts.load("names")
        args: list[Any] = ["0", 10, "nämé", b"\x00\xff", 1.5]  # a cursor, a count, ignored
        for pack in (scripts._pack_command, None):
            monkeypatch.setattr(scripts, "_pack_command", pack)
            sent.clear()
            reply = with_scripts.send("names", ["{p}:defs", "{p}:corrupt"], args)
            assert reply is not None
            assert reply.read()[0] == b"0"  # the walk is done: no entries
            command = ("EVALSHA", with_scripts.sha("names"), 2, "{p}:defs", "{p}:corrupt", *args)
            assert sent == [b"".join(Connection().pack_command(*command))]
    finally:
        with_scripts.release()
        client.close()
