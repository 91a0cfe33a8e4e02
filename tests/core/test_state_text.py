"""A state text in the store's form read without the JSON decoder gives the state the full
decode gives, and any other text (hostile, truncated, from earlier releases) the full
decode's state or its very error: the two paths compared on the same texts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from beatcore import serializer
from beatcore.entry import MAX_COUNT, EntryState
from beatcore.errors import BeatcoreError, CorruptRecord
from beatcore.serializer import dumps_state, loads_state
from beatcore.state_text import read_written
from beatcore.timeutil import UTC

T0 = datetime(2026, 12, 2, 1, 5, 47, 405289, tzinfo=UTC)
ZONES = [UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"),
         ZoneInfo("Australia/Lord_Howe"), timezone(timedelta(hours=-5, minutes=-30))]  # fmt: skip
SETTINGS = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(autouse=True)
def empty_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each text is read afresh (not a state a text read before gave)."""
    monkeypatch.setattr(serializer, "_STATES", {})


def full_decode(text: Any, name: str = "e") -> EntryState:
    """The full, validating decode alone: what loads_state does for a text not in the form."""
    return serializer.state_from_dict(serializer._loads(text, name), name)


def outcome(read: Any, text: Any) -> tuple[Any, ...]:
    """What ``read(text)`` gives, comparable: :func:`described` of its state, or the
    error's entry name and message."""
    try:
        state = read(text)
    except CorruptRecord as exc:
        return ("unreadable", exc.name, str(exc))
    return described(state)


def described(state: EntryState) -> tuple[Any, ...]:
    """Each field's type, repr and fold (equal instants in other zones or folds differ)."""
    fields = [getattr(state, name) for name in EntryState.__slots__ if name != "__weakref__"]
    return tuple((type(v), repr(v), getattr(v, "fold", None)) for v in fields)


def assert_same(text: str | bytes) -> None:
    """loads_state and the full decode agree on ``text``, as str and as bytes."""
    variants: list[str | bytes] = [text]
    if type(text) is str:
        variants.append(text.encode("utf-8", "surrogatepass"))
    for variant in variants:
        serializer._STATES.clear()
        assert outcome(lambda t: loads_state(t, "e"), variant) == outcome(full_decode, variant)
        fast = read_written(variant)
        if fast is not None:
            assert described(fast) == outcome(full_decode, variant)


def instants() -> st.SearchStrategy[datetime | None]:
    return st.none() | st.sampled_from([T0, T0.replace(microsecond=0)]) | st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(ZONES),
    )  # fmt: skip


def texts() -> st.SearchStrategy[str | None]:
    odd = st.text(st.characters(blacklist_categories=()), max_size=12)  # NUL, surrogates, astral
    return st.none() | st.sampled_from(["59c6d745-36af-5cd6-98cf-558a482f4325", "", " "]) | odd


def counts() -> st.SearchStrategy[int]:
    return st.sampled_from([0, 1, MAX_COUNT, 10**17, 10**18 - 1, 10**18]) | st.integers(
        0, MAX_COUNT
    )


@st.composite
def states(draw: st.DrawFn) -> EntryState:
    values = (draw(instants()), draw(instants()), draw(counts()), draw(counts()),
              draw(texts()), draw(texts()), draw(instants()))  # fmt: skip
    try:
        return EntryState(*values)
    except (BeatcoreError, OverflowError):  # before the first instant in UTC: not a state
        return EntryState(next_run_at=T0)


#: What a byte of a text may be replaced with or have inserted before it.
SPLICES = ['"', "\\", " ", "\n", "\x00", "\x7f", "é", "\U0001d11e", "\ud800", "-", "0", "9",
           ",", ":", "{", "}", "null", "-0.0", "1e3", "1.0", "01", "9" * 19, "9" * 5000,
           "true", "Z", "+01:00", "\\u0041", '"v":1,']  # fmt: skip


@SETTINGS
@given(states())
@example(EntryState())
@example(EntryState(T0, T0, 1, 0, "59c6d745-36af-5cd6-98cf-558a482f4325", None, T0))
@example(EntryState(last_error='send failed: "x"', last_task_id="\x00\U0001d11e"))
def test_the_texts_the_store_writes_read_as_the_full_decode_reads_them(state: EntryState) -> None:
    text = dumps_state(state)
    assert_same(text)
    assert loads_state(text, "e") == state


def test_the_store_form_is_read_without_the_decoder() -> None:
    """The texts a tick reads (triggered, sent, never run) are in the form."""
    for state in (
        EntryState(T0, T0, 1, 0, "59c6d745-36af-5cd6-98cf-558a482f4325", None, T0),
        EntryState(next_run_at=T0),
        EntryState(T0, T0, 4, 2, "id-1", "boom", None),
        EntryState(),
    ):
        text = dumps_state(state)
        assert read_written(text) == state
        assert read_written(text.encode()) == state


@SETTINGS
@given(states(), st.data())
def test_altered_and_truncated_texts_read_as_the_full_decode_reads_them(
    state: EntryState, data: st.DataObject
) -> None:
    text = dumps_state(state)
    at = data.draw(st.integers(0, len(text)))
    assert_same(text[:at])
    splice = data.draw(st.sampled_from(SPLICES))
    assert_same(text[:at] + splice + text[at:])
    assert_same(text[:at] + splice + text[at + 1 :])
    raw = text.encode()
    byte = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\xe9", b"\x80"]))  # not UTF-8
    assert_same(raw[:at] + byte + raw[at:])


@SETTINGS
@given(states(), st.sampled_from([(",", ":"), (", ", ": ")]), st.booleans())
def test_texts_written_with_every_member_read_as_the_full_decode_reads_them(
    state: EntryState, separators: tuple[str, str], sort_keys: bool
) -> None:
    """Earlier releases wrote every member (null, 0); other writers, any order and spacing."""
    text = json.dumps(serializer.state_to_dict(state), separators=separators, sort_keys=sort_keys)
    assert_same(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"next_run_at":"2026-12-02T02:05:47+00:00","v":1}',
        '{"next_run_at":"2026-12-02T02:05:47Z","v":1}',
        '{"next_run_at":"2026-12-02T03:05:47+01:00","v":1}',
        '{"next_run_at":"2026-12-02T02:05:47","v":1}',
        '{"next_run_at":"2026-12-02","v":1}',
        '{"next_run_at":"2026-12-02 02:05:47+00:00","v":1}',
        '{"next_run_at":"2026-12-02\\u0054:02:05:47+00:00","v":1}',
        '{"next_run_at":"2026-12-02T24:00:00+00:00","v":1}',
        '{"next_run_at":"0001-01-01T00:30:00+01:00","v":1}',
        '{"next_run_at":"","v":1}',
        '{"next_run_at":null,"v":1}',
        '{"total_run_count":null,"v":1}',
        '{"total_run_count":-0.0,"v":1}',
        '{"total_run_count":-1,"v":1}',
        '{"total_run_count":9223372036854775807,"v":1}',
        '{"total_run_count":9223372036854775808,"v":1}',
        '{"total_run_count":999999999999999999,"v":1}',
        '{"total_run_count":' + "9" * 5000 + ',"v":1}',
        '{"total_run_count":1,"total_run_count":2,"v":1}',
        '{"last_task_id":"a\\"b","v":1}',
        '{"last_task_id":"a\tb","v":1}',
        '{"last_task_id":7,"v":1}',
        '{"last_error":"x","v":1.0}',
        '{"last_error":"x","v":true}',
        '{"v":2}',
        '{"v":1,"extra":3}',
        '{"v":1}\n',
        "{'v':1}",
        "[]",
        "",
    ],
)
def test_hostile_texts_read_as_the_full_decode_reads_them(text: str) -> None:
    assert_same(text)
