"""The compare-and-set write's named types send the script the arguments ``write.lua`` and
``lock_renew.lua`` document, byte for byte (the stored data and the scripts are a contract)."""

from __future__ import annotations

import fakeredis
import pytest

from beatcore import Entry, Interval, serializer
from beatcore.entry import EntryState
from beatcore.errors import InvalidSchedule
from beatcore.testing.contract import T0, every
from beatcore.testing.contract.batches import NoNextRun
from beatcore_redis import saving
from beatcore_redis.lock import FencedCall
from beatcore_redis.scripts import script_source
from beatcore_redis.store import open_store
from beatcore_redis.writes import Delete, Put, WriteMode, put


def test_put_and_delete_give_the_eight_arguments_of_an_entry() -> None:
    entry = every("job", 60, static=True)
    state = EntryState(next_run_at=T0)
    written = put(entry, state, b"old-def", None)
    assert written.script_args() == [
        "put",
        "job",
        b"old-def",
        b"",
        serializer.dumps_entry(entry),
        serializer.dumps_state(state),
        "1767614400000000",
        "1",
    ]
    assert isinstance(written, Put)
    assert written._replace(due_score="").script_args()[6] == ""
    assert Delete("job").script_args() == ["del", "job", "*", "*", "", "", "", "0"]
    assert Delete("job", b"def").script_args()[2] == b"def"


def test_modes_are_the_ones_the_scripts_read() -> None:
    write_lua = script_source("write")
    for mode in WriteMode:
        assert f"'{mode.value}'" in write_lua
    assert {mode.value for mode in WriteMode} == {"w", "m", "1", "s", "S"}
    renew_lua = script_source("lock_renew")
    assert FencedCall.RENEW.value == "1" and "ARGV[3] == '1'" in renew_lua
    assert FencedCall.RELEASE.value == "0"


def test_a_save_the_schedule_refuses_raises_its_error_for_a_name_seen_or_not() -> None:
    """A schedule with no first run is refused by a single save with that schedule's error,
    whether the store has written the name before (the batch path) or not (the direct one)."""
    store = open_store("redis://127.0.0.1:1/0", {"client": fakeredis.FakeRedis()})
    store.save(Entry(name="seen", task="t", schedule=Interval(60)))
    for name in ("new", "seen"):
        with pytest.raises(InvalidSchedule, match="no next occurrence"):
            store.save(Entry(name=name, task="t", schedule=NoNextRun(60)))
    assert store.get("seen").schedule == Interval(60)


def test_a_last_attempt_that_settles_every_entry_returns_their_states() -> None:
    """An attempt that settles every entry without writing it (the records it found are the
    ones the save would write) ends the write, on the last allowed attempt too."""
    store = open_store("redis://127.0.0.1:1/0", {"client": fakeredis.FakeRedis()})
    store.save(every("a"))
    unknown = saving._Pending(every("a"), None)  # the records not remembered: found, settled
    states, stored = saving._save_all(store.handle, "save many", [unknown], {}, attempts=1)
    assert list(states) == ["a"] and [name for name, _ in stored] == ["a"]
    assert states["a"] == store.state("a")
