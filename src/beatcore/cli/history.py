"""Run history carried over by the migration verbs (from RedBeat, from django-celery-beat).

A store writes run facts (last run, run count) only through a fenced ack, so a migration
takes the lock the way a scheduler does (:func:`history_lease`), saves its entries, and then
writes each entry's history as one ack (:func:`write_history`); the next run then follows the
last one, as it would have under the old scheduler.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import NamedTuple

import click

from beatcore import timing
from beatcore.cli.session import Session
from beatcore.entry import Entry, EntryState
from beatcore.store import Ack, Lease, Store


class History(NamedTuple):
    """The run history of one migrated entry."""

    entry: Entry
    last_run_at: datetime
    total_run_count: int


def history_state(
    store: Store, entry: Entry, last_run_at: datetime, total_run_count: int, default_tz: str
) -> EntryState:
    """Return the state that continues an old scheduler's history: next run after the last."""
    current = store.state(entry.name)
    next_run = timing.occurrence_after(entry, last_run_at, default_tz)
    if entry.max_runs is not None and total_run_count >= entry.max_runs:
        next_run = None
    return current.evolve(
        next_run_at=next_run,
        last_run_at=last_run_at,
        total_run_count=max(current.total_run_count, total_run_count),
    )


@contextlib.contextmanager
def history_lease(
    session: Session, needed: bool, ttl: float, *, source: str, verb: str
) -> Iterator[Lease | None]:
    """Hold the store's lock while ``source``'s history is written (None when not needed).

    :raises click.ClickException: a beatcore scheduler holds the lock (nothing was written).
    """
    if not needed:
        yield None
        return
    store = session.store
    lease = store.lock.acquire(f"{verb}:{socket.gethostname()}:{os.getpid()}", ttl)
    if lease is None:
        leader = store.lock.current()
        raise click.ClickException(
            f"a beatcore scheduler ({leader.holder if leader else 'unknown'}) holds the lock of "
            f"{store.url}, so {source}'s run history cannot be written now; stop beatcore's beat "
            "while migrating, or pass --without-history"
        )
    try:
        yield lease
    finally:
        store.lock.release(lease)


def write_history(session: Session, lease: Lease, items: Sequence[History]) -> int:
    """Write the run history of ``items`` as their states, in one ack under ``lease``.

    Each entry is acked against its current state, so a change made meanwhile wins, as with
    any ack; an entry whose last run is already at or after that history's is left alone (a
    second run of a migration changes nothing, and never takes a state back). Returns how many
    states were written.
    """
    store = session.store
    lease = store.lock.renew(lease)  # saving many entries may have taken a while
    acks = []
    for entry, last_run_at, total_run_count in items:
        claimed = store.state(entry.name)
        if claimed.last_run_at is not None and claimed.last_run_at >= last_run_at:
            continue  # beatcore ran it since (or this history is written already)
        state = history_state(store, entry, last_run_at, total_run_count, session.default_tz)
        if state != claimed:
            acks.append(Ack(entry.name, claimed, state, timing.state_due_at(entry, state)))
    if acks:
        store.ack(lease, acks)
    return len(acks)
