"""States read from the same text are decoded once (the serializer's bounded table of states)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from beatcore import record_text
from beatcore import serializer as serializer_module
from beatcore.entry import EntryState
from beatcore.errors import CorruptRecord
from beatcore.record_text import ENCODER, STATE_OMITTED_DEFAULTS, stored_dict
from beatcore.serializer import dumps_state, loads_state
from beatcore.timeutil import UTC

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def empty_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serializer_module, "_STATES", {})


def test_the_same_text_gives_the_one_state_it_decoded_to() -> None:
    """Entries due together share their state's text: it is decoded once, as bytes or str."""
    text = dumps_state(EntryState(next_run_at=T0, total_run_count=2))
    first = loads_state(text.encode(), "a")
    assert first == EntryState(next_run_at=T0, total_run_count=2)
    assert loads_state(text.encode(), "b") is first
    assert loads_state(text, "c") == first


def test_different_texts_give_their_own_states() -> None:
    """Nothing is shared between texts that differ, however slightly."""
    states = [EntryState(next_run_at=T0 + timedelta(microseconds=i)) for i in range(5)]
    read = [loads_state(dumps_state(state).encode(), f"e{i}") for i, state in enumerate(states)]
    assert read == states
    assert len({id(state) for state in read}) == 5


def test_an_unreadable_text_is_not_kept_and_names_each_entry() -> None:
    bad = b'{"next_run_at":"not an instant","v":1}'
    for name in ("a", "b"):
        with pytest.raises(CorruptRecord, match="next_run_at") as caught:
            loads_state(bad, name)
        assert caught.value.name == name
    assert serializer_module._STATES == {}


def test_texts_of_other_types_are_decoded_and_not_kept() -> None:
    text = dumps_state(EntryState(next_run_at=T0)).encode()
    assert loads_state(bytearray(text), "a") == EntryState(next_run_at=T0)  # type: ignore[arg-type]
    assert serializer_module._STATES == {}


def test_the_table_of_states_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serializer_module, "STATES_LIMIT", 10)
    for i in range(25):
        state = EntryState(next_run_at=T0, total_run_count=i)
        assert loads_state(dumps_state(state), "e") == state
    assert len(serializer_module._STATES) <= 10
    long = dumps_state(EntryState(last_error="x" * serializer_module.STATE_TEXT_LIMIT))
    before = len(serializer_module._STATES)
    assert loads_state(long, "e").last_error == "x" * serializer_module.STATE_TEXT_LIMIT
    assert len(serializer_module._STATES) == before  # too long to be kept


def test_states_differing_in_their_task_id_alone_share_their_text_but_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The states of one ack: each text is the one written afresh (and the encoder's),
    whether the state before differed in its last task id alone, in its last run too
    (or whether it has one), or in anything else."""
    plus_two = timezone(timedelta(hours=2))
    base = {"next_run_at": T0 + timedelta(days=1), "last_run_at": T0, "total_run_count": 1}
    states = [
        EntryState(**base, last_task_id="a"),
        EntryState(**base, last_task_id='b "é"'),
        EntryState(**base, last_task_id="c", skipped_run_count=2),
        EntryState(**base, last_task_id="d", skipped_run_count=2),
        EntryState(**{**base, "total_run_count": 2}, last_task_id="e"),
        EntryState(**{**base, "last_run_at": T0.astimezone(plus_two)}, last_task_id="f"),
        EntryState(**{**base, "last_run_at": T0 + timedelta(microseconds=7)}, last_task_id="f2"),
        EntryState(**{**base, "last_run_at": None}, last_task_id="f3"),
        EntryState(**{**base, "last_run_at": None}, last_task_id="f4"),
        EntryState(**{**base, "last_run_at": T0 + timedelta(seconds=3)}, last_task_id="f5"),
        EntryState(**{**base, "next_run_at": None}, last_task_id="g"),
        EntryState(**base, last_task_id="h", last_error="send failed: x"),
        EntryState(**base, last_task_id="i", triggered_at=T0),
        EntryState(**base),
        EntryState(**base, last_task_id="j"),
        EntryState(last_task_id="k"),
        EntryState(last_task_id="l"),
    ]
    texts = [dumps_state(state) for state in states]
    fresh = []
    for state in states:
        monkeypatch.setattr(record_text, "_last_state", ((), "", ""))
        monkeypatch.setattr(record_text, "_last_run", (None, ""))
        fresh.append(dumps_state(state))
    assert texts == fresh
    for state, text in zip(states, texts, strict=True):
        expected = ENCODER.encode(
            stored_dict(serializer_module.state_to_dict(state), STATE_OMITTED_DEFAULTS)
        )
        assert text == expected
        assert loads_state(text, "e") == state
