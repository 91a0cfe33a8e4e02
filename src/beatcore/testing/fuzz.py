"""``StoreFuzz``: hostile records planted next to good entries, for every store (hypothesis).

A store's tests subclass it (as they subclass :class:`~beatcore.testing.StoreContract`) and
override two fixtures::

    class TestMyStoreFuzz(StoreFuzz):
        @pytest.fixture
        def open_fuzz_store(self, clock):
            return lambda: MyStore(<a new, empty schedule>, clock=clock)

        @pytest.fixture
        def plant_raw_record(self):
            return lambda store, name, entry_raw, state_raw, due_at: ...

``plant_raw_record`` writes the bytes given as the definition and the state of ``name``,
exactly as they are, and puts ``name`` in the due index at ``due_at``. Each example opens a
new store; the suite closes it.

What is planted: random bytes, random JSON, JSON nested 100,000 deep, numbers too large for
any type (``1e400``, a 4,000-digit integer), ``NaN`` and ``Infinity``, JSON values of the wrong
type in any field, dates at the ends of time, and names with NUL, control characters,
newlines, 1,000 characters or characters outside the BMP. The property: the good entries
(saved through the API, and planted records that happen to read) are claimed once and
acked; the unreadable ones are reported once by ``claim_due``, listed by
``corrupt_records`` and kept; no exception leaves ``claim_due``, ``ack``, ``entries``,
``corrupt_records`` or ``status``. Seeded (``derandomize``) and bounded (:data:`EXAMPLES`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from beatcore import serializer, storekit
from beatcore.entry import Entry, EntryState
from beatcore.errors import BeatcoreError, CorruptRecord
from beatcore.schedules import Interval
from beatcore.store import Ack, Store
from beatcore.testing.clock import FakeClock
from beatcore.testing.contract.base import T0, ClockFixture, expect

OpenFuzzStore = Callable[[], Store]
PlantRaw = Callable[[Store, str, bytes, bytes, datetime], None]

#: Examples per test: enough to meet every kind of hostile record, bounded in time.
EXAMPLES = 40

_FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_DEEP = "[" * 100_000 + "]" * 100_000
#: JSON texts no field can hold: out of every range, not a number, nested past the stack.
_HOSTILE_VALUES = (
    "1e400",
    "-1e400",
    "4" * 4000,
    "9" * 5000,
    "NaN",
    "Infinity",
    "-Infinity",
    _DEEP,
    '"9999-12-31T23:59:59.999999+00:00"',
    '"0001-01-01T00:00:00+00:00"',
    '"2026-01-05T12:00:00"',
    '"not a date"',
    "-1",
    "0",
    "true",
    "null",
    '""',
    "[]",
    "{}",
    '{"type":"interval","every":1e400}',
    '{"type":"interval","every":NaN}',
    '{"type":"crontab","expr":"99 * * * *"}',
    '{"type":"no-such-type"}',
)
_ODD_NAMES = ("nul\x00name", "tab\tname", "line\nbreak", "bell\x07", "x" * 1000, "\U0001f600", "")

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
_names = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
    st.sampled_from(_ODD_NAMES),
).map(lambda text: text or "empty-looking")


def _good_entry(name: str) -> Entry:
    return Entry(name=name, task="tests.fuzz", schedule=Interval(60))


def _with_fields(record: str, changes: dict[str, str]) -> bytes:
    """``record`` (JSON of an object) with each field of ``changes`` set to raw JSON text."""
    data = json.loads(record)
    for i, field in enumerate(changes):
        data[field] = f"\x00placeholder{i}\x00"
    text = json.dumps(data)
    for i, raw in enumerate(changes.values()):
        text = text.replace(json.dumps(f"\x00placeholder{i}\x00"), raw)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def _hostile_json(draw: st.DrawFn, good: str) -> bytes:
    """A good record with one or two fields made hostile (or a new field added)."""
    fields = [*json.loads(good), "extra"]
    chosen = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=2, unique=True))
    values = st.sampled_from(_HOSTILE_VALUES) | _json_values.map(json.dumps)
    return _with_fields(good, {field: draw(values) for field in chosen})


@st.composite
def _planted(draw: st.DrawFn, name: str) -> tuple[bytes, bytes]:
    """The definition and state bytes of one hostile record named ``name``."""
    good_entry = serializer.dumps_entry(_good_entry(name if _valid_name(name) else "x"))
    good_state = serializer.dumps_state(EntryState(next_run_at=T0))
    anything = st.one_of(
        st.binary(max_size=40),
        _json_values.map(lambda value: json.dumps(value).encode()),
        st.just(_DEEP.encode()),
        st.just(b'{"v":1,"name":"\xff\xfe"}'),
    )
    entry_raw = draw(st.one_of(st.just(good_entry.encode()), _hostile_json(good_entry), anything))
    state_raw = draw(st.one_of(st.just(good_state.encode()), _hostile_json(good_state), anything))
    return entry_raw, state_raw


@st.composite
def _schedules(draw: st.DrawFn) -> tuple[list[str], dict[str, tuple[bytes, bytes]]]:
    """Names of good entries to save and hostile records to plant, all names distinct."""
    names = draw(st.lists(_names, min_size=1, max_size=6, unique=True))
    good = [name for name in names[: draw(st.integers(0, len(names)))] if _valid_name(name)]
    planted = {name: draw(_planted(name)) for name in names if name not in good}
    return good, planted


def _every_hostile_value() -> tuple[list[str], dict[str, tuple[bytes, bytes]]]:
    """One example meeting each hostile value in a state and in a definition, and each odd
    name as a saved entry and as a planted record (the random examples add the rest)."""
    good = [name for name in _ODD_NAMES if name and _valid_name(name)]
    planted: dict[str, tuple[bytes, bytes]] = {}
    good_state = serializer.dumps_state(EntryState(next_run_at=T0))
    for i, value in enumerate(_HOSTILE_VALUES):
        name = f"state-{i}"
        planted[name] = (
            serializer.dumps_entry(_good_entry(name)).encode(),
            _with_fields(good_state, {"total_run_count": value, "last_error": value}),
        )
        for field in ("jitter", "schedule", "args", "max_runs"):
            name = f"{field}-{i}"
            entry = serializer.dumps_entry(_good_entry(name))
            planted[name] = (_with_fields(entry, {field: value}), good_state.encode())
    template = serializer.dumps_entry(_good_entry("x"))
    for name in _ODD_NAMES:
        # written as a store would have before the name rule: it must still read
        name = f"planted {name}"
        planted[name] = (_with_fields(template, {"name": json.dumps(name)}), good_state.encode())
    return good, planted


def _valid_name(name: str) -> bool:
    try:
        _good_entry(name)
    except BeatcoreError:
        return False
    return True


def _as_text(raw: bytes) -> bytes:
    """``raw`` as a text column holds it: NULs and bytes that are not UTF-8 become U+FFFD."""
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd").encode()


def _reads(name: str, entry_raw: bytes, state_raw: bytes) -> bool:
    return isinstance(storekit.decode_record(name, entry_raw, state_raw), storekit.Record)


def _definition_reads(name: str, entry_raw: bytes) -> bool:
    try:
        serializer.loads_entry(entry_raw, name)
    except CorruptRecord:
        return False
    return True


class StoreFuzz(ClockFixture):
    """The fuzz suite. Subclass it and override ``open_fuzz_store`` and ``plant_raw_record``.

    A store whose backend cannot hold a NUL character in a name or a record (PostgreSQL's
    ``text``) sets :attr:`holds_nul` to False: names holding one are then left out of the
    examples, and ``plant_raw_record`` is given only bytes it can store as text (a NUL or a
    byte that is not UTF-8 written as U+FFFD, which no record reads differently for).
    """

    #: Whether names and records may hold U+0000 (and bytes that are not UTF-8) as they are.
    holds_nul: bool = True

    @pytest.fixture
    def open_fuzz_store(self, clock: FakeClock) -> OpenFuzzStore:
        """A function opening a new, empty store on ``clock``: override it."""
        raise NotImplementedError("override 'open_fuzz_store' to run the store fuzz suite")

    @pytest.fixture
    def plant_raw_record(self) -> PlantRaw:
        """A function writing raw bytes as the record ``name``, due at ``due_at``: override."""
        raise NotImplementedError("override 'plant_raw_record' to run the store fuzz suite")

    def test_hostile_records_never_stop_the_good_entries(
        self, open_fuzz_store: OpenFuzzStore, plant_raw_record: PlantRaw, clock: FakeClock
    ) -> None:
        """Store.claim_due, ack, entries, corrupt_records and status with hostile records
        planted next to good entries: the good are claimed once and acked, the bad reported
        once and kept, and nothing raises."""

        @_FUZZ_SETTINGS
        @given(_schedules())
        @example(_every_hostile_value())
        def check(schedule: tuple[list[str], dict[str, tuple[bytes, bytes]]]) -> None:
            clock.set(T0)
            store = open_fuzz_store()
            try:
                self.check_one(store, plant_raw_record, clock, *schedule)
            finally:
                store.close()

        check()

    def check_one(
        self,
        store: Store,
        plant: PlantRaw,
        clock: FakeClock,
        good: list[str],
        planted: dict[str, tuple[bytes, bytes]],
    ) -> None:
        """Run one example: save ``good``, plant ``planted``, then claim, ack and list."""
        if not self.holds_nul:
            good = [name for name in good if "\x00" not in name]
            planted = {
                name: (_as_text(entry_raw), _as_text(state_raw))
                for name, (entry_raw, state_raw) in planted.items()
                if "\x00" not in name
            }
        for name in good:
            store.save(_good_entry(name))
        for name, (entry_raw, state_raw) in planted.items():
            plant(store, name, entry_raw, state_raw, T0)
        readable = sorted([*good, *(n for n, raw in planted.items() if _reads(n, *raw))])
        unreadable = sorted(n for n, raw in planted.items() if not _reads(n, *raw))
        listed = sorted([*good, *(n for n, raw in planted.items() if _definition_reads(n, raw[0]))])

        lease = store.lock.acquire("fuzz", 30)
        assert lease is not None, "Lock.acquire of a free lock: got None"
        clock.advance(60)
        now = clock()
        result = store.claim_due(lease, now, limit=1000, reclaim_after=3600)
        claimed = sorted(claim.entry.name for claim in result.claims)
        # every planted record is in the due index (at T0), so each one that reads is claimed
        expect(claimed, readable, "names claimed next to hostile records")
        expect(sorted(e.name for e in result.corrupt), unreadable, "ClaimResult.corrupt")
        later = now + timedelta(hours=1)
        store.ack(
            lease,
            [
                Ack(
                    c.entry.name,
                    c.state,
                    c.state.evolve(next_run_at=later, last_run_at=now, triggered_at=None),
                    later,
                )
                for c in result.claims
            ],
        )
        again = store.claim_due(lease, now, limit=1000, reclaim_after=3600)
        expect(again.claims, (), "claims again after the ack (each sent once)")
        expect(again.corrupt, (), "ClaimResult.corrupt again (each reported once)")
        expect(sorted(e.name for e in store.entries()), listed, "Store.entries")
        expect(sorted(e.name for e in store.corrupt_records()), unreadable, "corrupt_records")
        status = store.status()
        expect(status.entry_count, len(good) + len(planted), "StoreStatus.entry_count")
        expect(status.corrupt_count, len(unreadable), "StoreStatus.corrupt_count")
        for name in good:
            expect(store.state(name).next_run_at, later, f"next run of {name!r} after its ack")


__all__ = ["EXAMPLES", "OpenFuzzStore", "PlantRaw", "StoreFuzz"]
