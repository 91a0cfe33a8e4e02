"""The fault scenarios. Each runs its faults until the run's deadline and then returns.

A scenario function gets a :class:`Run`: the harness (processes), a seeded random generator,
the harness-side store (``beatcore.connect``) and the entry plans it must keep up to date when
it changes the schedule itself (churn, data loss).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator

import attrs

from beatcore import Entry, Interval, Store
from bench.chaos.bad_data import bad_data
from bench.chaos.expect import EntryPlan
from bench.chaos.harness import Beat, Harness, StoreKind, utc_from_epoch

TASK = "chaos.record"
#: The entries every scenario runs: name -> (seconds between runs, catch-up policy).
STABLE_ENTRIES: dict[str, tuple[int, str]] = {
    "tick-0": (1, "latest"),
    "tick-1": (1, "latest"),
    "tick-2": (1, "latest"),
    "all-0": (1, "all"),
    "every2-0": (2, "latest"),
}
#: Seconds after an entry is saved in which its first occurrence may be late or skipped: the
#: leader sleeps up to ``min(beat_max_loop_interval, ttl / 3)`` before it sees a new entry.
PICKUP_BAND = 1.0


@attrs.define
class Run:
    """What a scenario function works with."""

    harness: Harness
    rng: random.Random
    store: Store | None
    """The harness's own store client (None on the RedBeat side)."""
    anchor: float
    deadline: float
    plans: dict[str, EntryPlan] = attrs.field(factory=dict)
    notes: list[str] = attrs.field(factory=list)
    bad: dict[str, str] = attrs.field(factory=dict)
    """Bad records planted (bad-data): name -> kind."""
    kept: set[str] = attrs.field(factory=set)
    """The planted bad records still stored when the faults ended."""

    @property
    def over(self) -> bool:
        """True once the fault window has ended."""
        return time.time() >= self.deadline

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, but not past the deadline."""
        time.sleep(max(0.0, min(seconds, self.deadline - time.time())))

    def entry(self, name: str, every: int, catch_up: str = "latest", version: int = 0) -> Entry:
        """The harness's entry: an anchored interval sending ``chaos.record(name, version)``."""
        return Entry(
            name=name,
            task=TASK,
            schedule=Interval(every=every, anchor=utc_from_epoch(self.anchor)),
            args=(name, version),
            catch_up=catch_up,  # type: ignore[arg-type]
        )

    def save(self, name: str, every: int, catch_up: str = "latest", *, band: float = 0.0) -> None:
        """Save (add or reschedule) an entry and open a segment for it in its plan."""
        plan = self.plans.setdefault(name, EntryPlan(name, catch_up))
        assert self.store is not None
        t0 = time.time()
        self.store.save(self.entry(name, every, catch_up))
        t1 = time.time()
        plan.close(t0, t1)
        plan.open(every, self.anchor, t0, t1 + band)

    def save_stable(self) -> None:
        """Save every stable entry (their first occurrence is optional: pickup lag)."""
        for name, (every, catch_up) in STABLE_ENTRIES.items():
            self.save(name, every, catch_up, band=PICKUP_BAND)

    def close_all(self, t0: float, t1: float) -> None:
        """Every entry stopped between ``t0`` and ``t1`` (the store lost its data)."""
        for plan in self.plans.values():
            plan.close(t0, t1)


@attrs.frozen
class Scenario:
    """One fault scenario and the setup it needs."""

    name: str
    summary: str
    faults: Callable[[Run], None]
    store: StoreKind = "plain"
    beats: int = 3
    proxied: bool = False
    clock_offsets: dict[str, float] = attrs.field(factory=dict)
    broker_latency: float = 0.0
    """Seconds the beats' path to the broker adds per chunk (a slow broker: sends take time)."""
    redbeat: bool = True
    """Whether the scenario applies to RedBeat too."""


#: Seconds past a whole second at which a mid-send fault strikes: with a slow broker (about
#: 0.1 s per publish) the leader has published two or three occurrences of that second's
#: batch and has more to go.
MID_SEND_AT = 0.3


def _mid_send(run: Run) -> None:
    """Sleep until :data:`MID_SEND_AT` past the next whole second."""
    now = time.time()
    time.sleep(math.floor(now) + 1 + MID_SEND_AT - now)


def _leaders_to_strike(run: Run, *, mid_send: bool, between: tuple[float, float]) -> Iterator[Beat]:
    """Yield the current leader at seeded intervals (``between`` seconds apart, 1-2 s for
    mid-send faults, then aligned 0.3 s into a batch) until the run is over."""
    h = run.harness
    while not run.over:
        run.sleep(run.rng.uniform(1, 2) if mid_send else run.rng.uniform(*between))
        if run.over:
            return
        leader = h.wait_for_leader(4 * h.lock_ttl)
        if leader is None:
            continue
        if mid_send:
            _mid_send(run)
        yield leader


def _kill9(run: Run, *, mid_send: bool, graceful: bool = False) -> None:
    h = run.harness
    for leader in _leaders_to_strike(run, mid_send=mid_send, between=(2, 5)):
        if graceful:
            h.terminate_beat(leader, leader=True)
        else:
            h.kill_beat(leader, leader=True)
        time.sleep(run.rng.uniform(0.5, 2))
        h.start_beat(leader)


def kill9(run: Run) -> None:
    """``kill -9`` the leader every 2-5 s (seeded); restart it 0.5-2 s later as a standby."""
    _kill9(run, mid_send=False)


def kill9_mid_send(run: Run) -> None:
    """``kill -9`` the leader 0.3 s into a batch of sends (slow broker)."""
    _kill9(run, mid_send=True)


def sigterm(run: Run) -> None:
    """Stop the leader gracefully (``SIGTERM``, a deploy) every 2-5 s; start it again."""
    _kill9(run, mid_send=False, graceful=True)


def sigterm_mid_send(run: Run) -> None:
    """``SIGTERM`` the leader 0.3 s into a batch of sends (slow broker); start it again."""
    _kill9(run, mid_send=True, graceful=True)


def _sigstop(run: Run, *, mid_send: bool) -> None:
    h = run.harness
    for leader in _leaders_to_strike(run, mid_send=mid_send, between=(1.5, 4)):
        h.pause_beat(leader, leader=True)
        time.sleep(run.rng.uniform(1.5, 2.5) * h.lock_ttl)
        h.resume_beat(leader)


def sigstop(run: Run) -> None:
    """``SIGSTOP`` the leader for 1.5-2.5 lock TTLs, then ``SIGCONT`` it."""
    _sigstop(run, mid_send=False)


def sigstop_mid_send(run: Run) -> None:
    """``SIGSTOP`` the leader 0.3 s into a batch of sends (slow broker), then ``SIGCONT``."""
    _sigstop(run, mid_send=True)


def _restart(run: Run, *, persistent: bool) -> None:
    h = run.harness
    while not run.over:
        run.sleep(run.rng.uniform(3, 6))
        if run.over:
            return
        down = time.time()
        h.restart_store(run.rng.uniform(1.5, 3.0))
        up = time.time()
        if not persistent:
            # Without persistence the schedule is gone: nothing can run until it is written
            # again. The harness does what an operator would: saves the entries once more.
            run.close_all(down, up)
            run.save_stable()
            run.notes.append(
                f"store lost its data at {utc_from_epoch(down):%H:%M:%S}; entries re-saved "
                f"{time.time() - down:.1f}s later"
            )


def restart_aof(run: Run) -> None:
    """Crash the store's redis-server (appendonly, fsync always) and start it again."""
    _restart(run, persistent=True)


def restart_nopersist(run: Run) -> None:
    """Crash the store's redis-server without persistence and start it empty."""
    _restart(run, persistent=False)


def proxy_faults(run: Run) -> None:
    """Through each beat's TCP proxy: drops, latency, refused and silent partitions of the
    leader's path to Redis."""
    h = run.harness
    kinds = ("drop", "drop-all", "latency", "partition", "silent-partition")
    while not run.over:
        run.sleep(run.rng.uniform(1.5, 3))
        if run.over:
            return
        leader = h.wait_for_leader(4 * h.lock_ttl)
        if leader is None or leader.proxy is None:
            continue
        kind = run.rng.choice(kinds)
        if kind == "drop":
            h.event("drop", leader.name, f"leader; {leader.proxy.drop()} connections")
        elif kind == "drop-all":
            dropped = sum(b.proxy.drop() for b in h.beats if b.proxy is not None)
            h.event("drop", "all", f"{dropped} connections")
        elif kind == "latency":
            leader.proxy.latency = run.rng.uniform(0.05, 0.4)
            h.event("latency", leader.name, f"{leader.proxy.latency:.3f}s per chunk")
            time.sleep(3)
            leader.proxy.heal()
        else:
            silent = kind == "silent-partition"
            leader.proxy.partition(silent=silent)
            h.event(kind, leader.name, "leader")
            time.sleep(run.rng.uniform(1.5, 2.5) * h.lock_ttl)
            leader.proxy.heal()
            h.event("heal", leader.name)


def sentinel_failover(run: Run) -> None:
    """Force Sentinel failovers; wait for the group to be healthy between them."""
    h = run.harness
    assert h.sentinel is not None
    while not run.over:
        run.sleep(run.rng.uniform(2, 4))
        if run.over:
            return
        old = h.sentinel.master()
        h.event("sentinel-failover", old.address)
        _, new = h.sentinel.failover()
        h.event("sentinel-promoted", new.address)
        h.sentinel.wait_healthy(60)


def clock_skew(run: Run) -> None:
    """Beats run with clock offsets; the leader is killed every 3-5 s so each clock leads."""
    h = run.harness
    while not run.over:
        run.sleep(run.rng.uniform(3, 5))
        if run.over:
            return
        leader = h.wait_for_leader(4 * h.lock_ttl)
        if leader is None:
            continue
        h.kill_beat(leader, leader=True, kind="skew-kill")
        time.sleep(0.5)
        h.start_beat(leader)


def churn(run: Run) -> None:
    """A client adds, edits, reschedules, disables, enables and removes entries continuously.

    Each change is made 0.3-0.7 s past a whole second, away from the occurrences on the grid.
    """
    store = run.store
    assert store is not None, "churn needs the beatcore store"
    live: dict[str, int] = {}
    disabled: set[str] = set()
    counter = 0
    while not run.over:
        now = time.time()
        frac = now % 1
        target = int(now) + (0 if frac < 0.3 else 1) + run.rng.uniform(0.3, 0.7)
        run.sleep(target - now)
        if run.over:
            return
        ops = ["add"] if len(live) < 2 else ["add", "args", "every", "disable", "enable", "remove"]
        if len(live) >= 8:
            ops.remove("add")
        op = run.rng.choice(ops)
        if op == "add":
            counter += 1
            name = f"churn-{counter}"
            live[name] = run.rng.choice((1, 2))
            run.save(name, live[name])
            run.harness.event("churn", name, "add")
            continue
        name = run.rng.choice(sorted(live))
        plan = run.plans[name]
        t0 = time.time()
        if op == "args":
            store.save(
                attrs.evolve(
                    run.entry(name, live[name]), enabled=name not in disabled, args=(name, counter)
                )
            )
        elif op == "every":
            live[name] = 3 - live[name]
            if name in disabled:
                store.save(attrs.evolve(run.entry(name, live[name]), enabled=False))
            else:
                run.save(name, live[name])
        elif op == "disable" and name not in disabled:
            store.set_enabled(name, False)
            disabled.add(name)
            plan.close(t0, time.time())
        elif op == "enable" and name in disabled:
            store.set_enabled(name, True)
            disabled.discard(name)
            plan.open(live[name], run.anchor, t0, time.time())
        elif op == "remove":
            store.delete(name)
            del live[name]
            disabled.discard(name)
            plan.close(t0, time.time())
        run.harness.event("churn", name, op)


def _quiet(run: Run) -> None:
    """No faults: the baseline."""
    while not run.over:
        run.sleep(1)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("baseline", "no faults", _quiet),
        Scenario("kill9", "kill -9 of the leader at random intervals", kill9),
        Scenario("sigstop", "SIGSTOP of the leader for 1.5-2.5 TTL, then SIGCONT", sigstop),
        Scenario("restart-aof", "redis-server crash and restart, appendonly", restart_aof,
                 store="aof"),
        Scenario("restart-nopersist", "redis-server crash and restart, no persistence",
                 restart_nopersist, redbeat=False),
        Scenario("proxy", "drops, latency and partitions between beat and Redis", proxy_faults,
                 proxied=True),
        Scenario("sentinel", "Sentinel failover of the store", sentinel_failover,
                 store="sentinel", redbeat=False),
        Scenario("clock-skew", "beats at +2 s and -2 s, leader killed every 3-5 s", clock_skew,
                 clock_offsets={"beat-1": 2.0, "beat-2": -2.0}, redbeat=False),
        Scenario("kill9-mid-send", "kill -9 of the leader 0.3 s into a batch (slow broker)",
                 kill9_mid_send, broker_latency=0.05),
        Scenario("sigterm", "graceful stop (SIGTERM) of the leader, started again", sigterm),
        Scenario("sigterm-mid-send", "SIGTERM of the leader 0.3 s into a batch (slow broker)",
                 sigterm_mid_send, broker_latency=0.05),
        Scenario("sigstop-mid-send", "SIGSTOP of the leader 0.3 s into a batch (slow broker)",
                 sigstop_mid_send, broker_latency=0.05),
        Scenario("bad-data", "bad records, odd names and foreign keys on Redis", bad_data,
                 redbeat=False),
        Scenario("bad-data-sqlite", "bad records and odd names on SQLite", bad_data,
                 store="sqlite", redbeat=False),
        Scenario("bad-data-postgres", "bad records and odd names on PostgreSQL", bad_data,
                 store="postgres", redbeat=False),
        Scenario("kill9-postgres", "kill -9 of the leader, PostgreSQL store", kill9,
                 store="postgres", redbeat=False),
        Scenario("sigstop-postgres", "SIGSTOP of the leader, PostgreSQL store", sigstop,
                 store="postgres", redbeat=False),
        Scenario("restart-postgres", "PostgreSQL crash (immediate stop) and restart",
                 restart_aof, store="postgres", redbeat=False),
        Scenario("proxy-postgres", "drops, latency and partitions between beat and PostgreSQL",
                 proxy_faults, store="postgres", proxied=True, redbeat=False),
        Scenario("churn", "entries added, edited, disabled and removed continuously", churn,
                 redbeat=False),
    )
}  # fmt: skip
