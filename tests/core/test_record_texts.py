"""The texts written out field by field are those of the JSON encoder: run records, and the
ISO text of instants (kept in a bounded cache)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from beatcore import run_values, timeutil
from beatcore.store import RunRecord
from beatcore.timeutil import UTC, instant_text

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))

RECORDS = [
    RunRecord(T0, "id", "sent"),
    RunRecord(T0, "id", "sent", sent_at=T0 + timedelta(seconds=1.5), lateness=1.5),
    RunRecord(T0, "id", "skipped", "missed by 3600s, catch_up=skip"),
    RunRecord(T0, 'i\u00e9d\n"', "send_failed", "Err: \u2028 \\ x"),
    RunRecord(
        T0,
        "id",
        "sent",
        status="failed",
        started_at=T0,
        finished_at=T0 + timedelta(microseconds=5),
        runtime=0.25,
        error="E: x",
        worker="w\u00fc",
        retries=3,
        lateness=0.000125,
    ),
    RunRecord(T0, "id", "resent", lateness=-0.5, runtime=1e300),
    RunRecord(datetime(2026, 1, 1, tzinfo=PLUS_TWO), "id", "sent", sent_at=T0.astimezone(PLUS_TWO)),
]


@pytest.mark.parametrize("record", RECORDS)
def test_a_run_record_is_the_sorted_encoders_text_and_reads_back(record: RunRecord) -> None:
    text = record.to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True)
    assert RunRecord.from_json(text) == record


@pytest.mark.parametrize(
    ("lateness", "runtime", "written"),
    [
        (float("nan"), None, '"lateness": NaN'),  # the encoder's own forms
        (float("inf"), None, '"lateness": Infinity'),
        (2, None, '"lateness": 2'),
        (None, 0.1234567891, '"runtime": 0.123457'),  # rounded to the microsecond
        (1e-9, None, '"lateness": 0.0'),
    ],
)
def test_unusual_seconds_are_written_as_the_encoder_writes_them(
    lateness: float | None, runtime: float | None, written: str
) -> None:
    text = RunRecord(T0, "id", "sent", lateness=lateness, runtime=runtime).to_json()
    assert written in text
    assert text == json.dumps(json.loads(text), sort_keys=True)


def test_an_instant_text_is_its_isoformat_in_any_zone() -> None:
    for when in (T0, T0 + timedelta(microseconds=1), T0.astimezone(PLUS_TWO), datetime(2026, 1, 1)):
        assert instant_text(when) == when.isoformat()
        assert instant_text(when) == when.isoformat()  # from the cache the second time
    # an equal instant in another zone never gets the UTC text
    assert instant_text(T0.astimezone(PLUS_TWO)) == "2026-01-01T02:00:00+02:00"


def test_the_instant_texts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeutil, "_INSTANT_TEXTS", {})
    monkeypatch.setattr(timeutil, "_SECOND_TEXTS", {})
    monkeypatch.setattr(timeutil, "INSTANT_TEXTS_LIMIT", 10)
    for second in range(25):
        assert instant_text(T0 + timedelta(seconds=second)).startswith("2026-01-01T00:00:")
    assert len(timeutil._INSTANT_TEXTS) <= 10
    assert len(timeutil._SECOND_TEXTS) <= 10


def test_an_instant_written_from_its_seconds_text_is_its_isoformat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The text made of a second's text and the microseconds is isoformat's, for every
    fraction's shape (none, leading zeros, each digit), the first and last years a datetime
    holds, and instants of one second met in any order (that second's text shared)."""
    monkeypatch.setattr(timeutil, "_INSTANT_TEXTS", {})
    monkeypatch.setattr(timeutil, "_SECOND_TEXTS", {})
    monkeypatch.setattr(timeutil, "INSTANT_TEXTS_LIMIT", 50)  # cleared often, too
    rng = random.Random(17)
    seconds = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), T0]
    seconds += [T0 + timedelta(seconds=rng.randrange(10**10)) for _ in range(40)]
    micros = [0, 1, 9, 10, 999, 1000, 1001, 10_000, 99_999, 100_000, 500_000, 999_999]
    micros += [rng.randrange(10**6) for _ in range(40)]
    instants = [second.replace(microsecond=micro) for second in seconds for micro in micros]
    rng.shuffle(instants)
    for when in instants:
        assert instant_text(when) == when.isoformat()
        assert instant_text(when.replace()) == when.isoformat()  # an equal, other object


def test_records_differing_in_their_task_id_alone_share_their_text_but_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The records of one ack: each text is the one written field by field, whether the
    record before differed in its task id alone or in anything else (the instants, their
    zone, the lateness and its sign, the outcome, a detail, a worker field)."""
    sent = T0 + timedelta(seconds=2)
    shared = {"sent_at": sent, "lateness": 2.0}
    records = [
        RunRecord(T0, "a", "sent", **shared),
        RunRecord(T0, 'b "é"', "sent", **shared),
        RunRecord(T0, "c", "resent", **shared),
        RunRecord(T0, "d", "resent", **shared),
        RunRecord(T0 + timedelta(microseconds=1), "e", "resent", **shared),
        RunRecord(T0, "f", "sent", sent_at=sent, lateness=2.5),
        RunRecord(T0, "f2", "sent", sent_at=sent, lateness=2.5),
        RunRecord(T0, "f3", "sent", lateness=2.5),
        RunRecord(T0, "f4", "sent", lateness=None),
        RunRecord(T0, "g", "sent", sent_at=sent, lateness=0.0),
        RunRecord(T0, "h", "sent", sent_at=sent, lateness=-0.0),
        RunRecord(T0, "i", "sent", sent_at=sent, lateness=0.0),
        RunRecord(T0, "j", "sent", sent_at=sent.astimezone(PLUS_TWO), lateness=2.0),
        RunRecord(T0.astimezone(PLUS_TWO), "k", "sent", sent_at=sent, lateness=2.0),
        RunRecord(T0, "l", "sent", sent_at=sent, lateness=2),
        RunRecord(T0, "m", "sent"),
        RunRecord(T0, "n", "sent"),
        RunRecord(T0, "o", "skipped", "why"),
        RunRecord(T0, "p", "sent", **shared, status="started", worker="w"),
        RunRecord(T0, "q", "sent", **shared),
    ]
    texts = [record.to_json() for record in records]
    fresh = []
    for record in records:
        monkeypatch.setattr(run_values, "_last_beat_record", ((), ""))
        monkeypatch.setattr(run_values, "_last_head", ((), ""))
        fresh.append(record.to_json())
    assert texts == fresh
    for record, text in zip(records, texts, strict=True):
        assert text == json.dumps(json.loads(text), sort_keys=True), record
        assert RunRecord.from_json(text) == record
    assert '"lateness": -0.0' in texts[10]
