"""The ``bad-data`` scenarios: records no beatcore writes, planted while a real beat runs.

Issue 12's cases on every store (``bad-data`` on Redis, ``bad-data-sqlite`` on SQLite,
``bad-data-postgres`` on PostgreSQL):

- *bad* records, each a definition copied from a good entry under a new name and then broken:
  a state counting ``1e400`` runs, a count or grace too large for any store, a definition
  nested 100,000 levels deep, ``"jitter": NaN``, bytes that are not UTF-8, truncated JSON, an
  unknown schedule type, a newer format version, an unreadable state. Each is due at once, so
  the leader's next claim meets it. A bad record must be reported (the beat logs it) and kept
  (still stored when the run ends), and no good entry may miss or repeat an occurrence.
- *odd names*, good entries whose names a release before the name rule let through: NUL, a
  newline, an escape sequence, U+2028, an emoji, 1,000 characters. They are planted as such a
  release wrote them and must run exactly once per occurrence like the stable entries.
- On Redis also what the Redis store meets under its prefix: dangling due-index members and
  foreign keys of every type.
- On PostgreSQL, whose ``text`` holds neither U+0000 nor bytes that are not UTF-8, no release
  could have stored either, so the NUL odd name is left out and the ``not-utf8`` record is
  planted as the text a lossy conversion leaves, each byte that is not UTF-8 replaced by
  U+FFFD. Replaced inside a string that text reads (a task ``chaos.\ufffd``, checked), so
  there the replaced bytes stand where the bytes would break the JSON too: before the task
  name's opening quote and as the state's unquoted ``last_error`` (:func:`_not_utf8_text`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from psycopg import sql

from beatcore import EntryState
from beatcore.entry import StoredName
from beatcore.serializer import dumps_entry, dumps_state
from beatcore.store import Store
from beatcore.storekit import to_micros
from beatcore.testing.records import plant_sqlite_record
from beatcore_postgres.store import PostgresStore
from bench.chaos.expect import EntryPlan
from bench.chaos.harness import utc_from_epoch
from bench.chaos.report import FORGED

#: Names a release before the name rule stored; each runs every second once per occurrence.
ODD_NAMES: dict[str, str] = {
    "nul": "odd-nul\x00name",
    "newline": f"odd-newline\n{FORGED}",
    "escape": "odd-escape\x1b[31mred",
    "line-separator": "odd-sep\u2028name",
    "emoji": "odd-\U0001f600-name",
    "long": "odd-long-" + "x" * 991,
}
#: Seconds after an odd name is planted in which its first occurrence may be late or skipped.
PICKUP_BAND = 1.0
#: How deeply the ``deep`` record nests (the issue's figure).
DEEP = 100_000

Raw = str | bytes
#: A broken record: (definition, state) from the good definition's JSON object and the name.
Breaker = Callable[[dict[str, Any], str, float], tuple[Raw, Raw]]


def _state(due: float, **fields: Any) -> str:
    return json.dumps(
        {"v": 1, "next_run_at": utc_from_epoch(due).isoformat(), **fields}, allow_nan=True
    )


def _count_1e400(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    return json.dumps(good), _state(due).replace('"v": 1', '"total_run_count": 1e400, "v": 1')


def _huge(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    definition = json.dumps({**good, "max_runs": 10**30}).replace(
        '"misfire_grace": null', '"misfire_grace": 1e400'
    )
    return definition, _state(due).replace('"v": 1', f'"skipped_run_count": {10**400}, "v": 1')


def _deep(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    nested = "[" * DEEP + "]" * DEEP
    return json.dumps({**good, "args": None}).replace('"args": null', f'"args": {nested}'), _state(
        due
    )


def _nan_jitter(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    return json.dumps({**good, "jitter": float("nan")}), _state(due)


def _not_utf8(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    text = json.dumps({**good, "task": "chaos.\udcff"}, ensure_ascii=False)
    return text.encode("utf-8", "surrogateescape"), b'{"v": 1, "last_error": "\xff\xfe"}'


def _not_utf8_text(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    """``not-utf8`` on PostgreSQL: its bytes \\xff \\xfe as U+FFFD, where they break the JSON."""
    definition = json.dumps(good).replace('"task": ', '"task": \ufffd', 1)
    return definition, '{"v": 1, "last_error": \ufffd\ufffd}'


def _truncated(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    return json.dumps(good)[:40], _state(due)


def _unknown_type(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    return json.dumps({**good, "schedule": {"type": "no-such-type"}}), _state(due)


def _newer_version(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    return json.dumps({**good, "v": 999}), _state(due)


def _bad_state(good: dict[str, Any], name: str, due: float) -> tuple[Raw, Raw]:
    return json.dumps(good), "[broken state"


#: Every bad record, on every store.
BAD_RECORDS: dict[str, Breaker] = {
    "count-1e400": _count_1e400,
    "huge-values": _huge,
    "deep-100000": _deep,
    "nan-jitter": _nan_jitter,
    "not-utf8": _not_utf8,
    "truncated-json": _truncated,
    "unknown-type": _unknown_type,
    "newer-version": _newer_version,
    "bad-state": _bad_state,
}


class Planter:
    """Writes raw records into the run's store, past its API, as a damaged or older store
    would hold them; says whether a record is still there."""

    def __init__(self, store: Store) -> None:
        self.store: Any = store  # the Redis, SQLite or PostgreSQL store, reached past its API
        self.postgres = isinstance(store, PostgresStore)
        #: The bad records this store can hold, by kind.
        self.breakers = (
            {**BAD_RECORDS, "not-utf8": _not_utf8_text} if self.postgres else BAD_RECORDS
        )
        #: The odd names this store can hold.
        self.odd_names = [
            name for key, name in ODD_NAMES.items() if not (self.postgres and key == "nul")
        ]

    def _postgres(self, statement: str, params: tuple[Any, ...]) -> Any:
        query = sql.SQL(statement).format(sql.Identifier(self.store.spec.schema))
        return self.store._db.run(
            "chaos planting", lambda conn: conn.execute(query, params).fetchone()
        )

    def plant(self, name: str, definition: Raw, state: Raw, due: float) -> None:
        """Store ``definition`` and ``state`` under ``name``, due at ``due`` (epoch s)."""
        when = utc_from_epoch(due)
        if hasattr(self.store, "keys"):  # the Redis store
            client, keys = self.store.client, self.store.keys
            pipe = client.pipeline(transaction=True)
            pipe.hset(keys.defs, name, definition)
            pipe.hset(keys.states, name, state)
            pipe.zadd(keys.due, {name: to_micros(when)})
            pipe.execute()
        elif self.postgres:
            self._postgres(
                "INSERT INTO {}.entries (name, entry_json, state_json, due_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET entry_json ="
                " excluded.entry_json, state_json = excluded.state_json, due_at = excluded.due_at"
                " RETURNING 1",
                (name, definition, state, when),
            )
        else:
            plant_sqlite_record(self.store, name, definition, state, when)

    def kept(self, name: str) -> bool:
        """True while a record of ``name`` is stored (readable or not)."""
        if hasattr(self.store, "keys"):
            return bool(self.store.client.hexists(self.store.keys.defs, name))
        if self.postgres:
            return self._postgres("SELECT 1 FROM {}.entries WHERE name = %s", (name,)) is not None
        with self.store._db.transaction() as conn:
            row = conn.execute("SELECT 1 FROM entries WHERE name = ?", (name,)).fetchone()
        return row is not None


def plant_odd_names(run: Any, planter: Planter) -> None:
    """Plant every odd name the store can hold (every second, anchored) and open its plan."""
    for name in planter.odd_names:
        entry = run.entry(StoredName(name), 1)
        t0 = time.time()
        due = float(int(t0) + 1)
        state = dumps_state(EntryState(next_run_at=utc_from_epoch(due)))
        planter.plant(name, dumps_entry(entry), state, due)
        t1 = time.time()
        plan = run.plans.setdefault(name, EntryPlan(name, "latest"))
        plan.open(1, run.anchor, t0, t1 + PICKUP_BAND)
        run.harness.event("plant", "odd name", repr(name)[:40])


def plant_bad_record(run: Any, planter: Planter, kind: str, n: int) -> str:
    """Plant one bad record of ``kind`` (a copy of the good ``tick-0`` broken), due now."""
    victim = f"victim-{kind}-{n}"
    good = json.loads(dumps_entry(run.entry("tick-0", 1)))
    good["name"] = victim
    definition, state = planter.breakers[kind](good, victim, time.time())
    planter.plant(victim, definition, state, time.time())
    run.harness.event("corrupt", victim, kind)
    return victim


#: What the Redis store meets under its prefix besides records (Redis only).
_REDIS_KINDS = ("dangling", "foreign")


def _plant_redis_litter(run: Any, planter: Planter, kind: str, n: int) -> None:
    client, keys = planter.store.client, planter.store.keys
    if kind == "dangling":  # in the due index, no record
        client.zadd(keys.due, {f"ghost-{n}": to_micros(utc_from_epoch(time.time()))})
        run.harness.event("corrupt", f"ghost-{n}", kind)
        return
    key = run.rng.choice(("junk", "list", "hash", "set"))
    name = f"{keys.base}{key}-{n}" if n % 2 else f"beatcore:{key}-{n}"
    if key == "junk":
        client.set(name, "\x00\xffnot ours", ex=60)
    elif key == "list":
        client.rpush(name, "a", "b")
    elif key == "hash":
        client.hset(name, "tick-0", "{}")
    else:
        client.sadd(name, "tick-0")
    run.harness.event("corrupt", name, "foreign")


def bad_data(run: Any) -> None:
    """Plant the odd names once, then a bad record (or, on Redis, litter under the prefix)
    every 0.3-0.8 s, every kind in turn in a seeded order; at the end check each bad record
    is still stored."""
    assert run.store is not None, "bad-data needs the beatcore store"
    planter = Planter(run.store)
    redis = hasattr(run.store, "keys")
    plant_odd_names(run, planter)
    kinds = [*BAD_RECORDS, *(_REDIS_KINDS if redis else ())]
    order: list[str] = []
    n = 0
    while not run.over:
        run.sleep(run.rng.uniform(0.3, 0.8))
        if run.over:
            break
        if not order:
            order = run.rng.sample(kinds, len(kinds))
        kind = order.pop()
        n += 1
        try:
            if kind in BAD_RECORDS:
                run.bad[plant_bad_record(run, planter, kind, n)] = kind
            else:
                _plant_redis_litter(run, planter, kind, n)
        except Exception as exc:  # the server may be busy; the run goes on
            run.notes.append(f"bad-data write of {kind} failed: {exc}")
    run.kept = {name for name in run.bad if planter.kept(name)}
