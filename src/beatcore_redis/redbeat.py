"""``celery beatcore migrate-from-redbeat``: copy RedBeat's schedule into beatcore's store.

RedBeat's records are read and converted by :mod:`.redbeat_format`. Each convertible entry
becomes a beatcore entry of the same name (static when RedBeat listed it as static), saved
through the store API; RedBeat's last run and run count become the entry's state, written with
a short-lived lease (as a scheduler writes states), so the next run follows the last one as it
would have under RedBeat. What cannot be converted is reported, one line per entry, and does
not stop the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from beatcore.cli import Session, history, pass_session
from beatcore.cli.describe import describe_schedule, format_instant
from beatcore.entry import EntryState
from beatcore.errors import CorruptRecord, EntryNotFound
from beatcore.migrating import Migrated, NotConvertible
from beatcore.store import Lease, Store
from beatcore.timeutil import UTC
from beatcore.urls import mask_password
from beatcore.values import printable
from beatcore_redis.redbeat_format import (
    DEFAULT_PREFIX,
    RedBeatRecord,
    convert,
    convert_schedule,
    decode,
    read_redbeat,
    rrule_text,
)

__all__ = [  # the format names are importable from here, where they used to live
    "DEFAULT_PREFIX",
    "Migrated",
    "NotConvertible",
    "RedBeatRecord",
    "convert",
    "convert_schedule",
    "decode",
    "history_lease",
    "history_state",
    "migrate_from_redbeat",
    "plan_migration",
    "read_redbeat",
    "rrule_text",
    "write_history",
]


def history_state(store: Store, item: Migrated, default_tz: str) -> EntryState:
    """Return the state that continues RedBeat's history: next run follows the last run."""
    assert item.last_run_at is not None
    return history.history_state(
        store, item.entry, item.last_run_at, item.total_run_count, default_tz
    )


def history_lease(session: Session, needed: bool, ttl: float) -> Any:
    """Hold the store's lock while RedBeat's history is written (None when not needed); see
    :func:`beatcore.cli.history.history_lease`."""
    return history.history_lease(
        session, needed, ttl, source="RedBeat", verb="migrate-from-redbeat"
    )


def write_history(session: Session, lease: Lease, items: Sequence[Migrated]) -> None:
    """Write RedBeat's run history as the entries' states, in one ack under ``lease``."""
    history.write_history(
        session,
        lease,
        [
            history.History(item.entry, item.last_run_at, item.total_run_count)
            for item in items
            if item.last_run_at is not None
        ],
    )


def _client(url: str) -> Any:
    try:
        import redis
    except ImportError:
        raise click.ClickException(
            "migrate-from-redbeat needs redis-py: pip install 'beatcore[redis]'"
        ) from None
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    except ValueError as exc:
        raise click.BadParameter(
            f"{mask_password(url)!r}: {exc}", param_hint="'--redis-url'"
        ) from None


def plan_migration(
    session: Session, records: Sequence[RedBeatRecord], statics: set[str], *, replace: bool
) -> tuple[list[Migrated], list[str], int]:
    """Convert RedBeat's ``records``, saying on the way what cannot be converted or is
    skipped; return the entries to migrate, the names that failed and how many were skipped
    (beatcore has an entry of that name and ``replace`` is false)."""
    store = session.store
    plan: list[Migrated] = []
    failed: list[str] = []
    skipped = 0
    for record in records:
        try:
            item = convert(
                record.name,
                decode(record.definition),
                decode(record.meta),
                static=record.name in statics,
                plugins=session.plugins,
            )
        except (NotConvertible, ValueError) as exc:
            failed.append(record.name)
            click.echo(f"cannot convert {record.name!r}: {exc}", err=True)
            continue
        try:
            store.get(record.name)
            exists = True
        except EntryNotFound:
            exists = False
        except CorruptRecord:
            exists = True
        if exists and not replace:
            skipped += 1
            click.echo(f"skip {record.name!r}: beatcore has an entry of that name (--replace)")
            continue
        plan.append(item)

    return plan, failed, skipped


@click.command("migrate-from-redbeat")
@click.option("--redis-url", help="RedBeat's Redis (default: redbeat_redis_url, else broker_url).")
@click.option("--prefix", help="RedBeat's key prefix (default: redbeat_key_prefix or 'redbeat:').")
@click.option("--dry-run", is_flag=True, help="Only print what would be migrated.")
@click.option("--replace", is_flag=True, help="Overwrite beatcore entries with the same name.")
@click.option("--without-history", is_flag=True, help="Do not carry over last run times.")
@pass_session
def migrate_from_redbeat(
    session: Session,
    redis_url: str | None,
    prefix: str | None,
    dry_run: bool,
    replace: bool,
    without_history: bool,
) -> None:
    """Create beatcore entries from RedBeat's, keeping their last run times.

    RedBeat's keys are only read. Exits 1 when some entry could not be converted or saved
    (the others are migrated all the same, in one ``save_many``).
    """
    import redis

    conf = session.app.conf
    url = redis_url or conf.get("redbeat_redis_url") or conf.get("broker_url")
    if not url or not str(url).startswith(("redis://", "rediss://", "unix://")):
        raise click.UsageError(
            f"RedBeat's Redis URL is {mask_password(str(url))!r}; pass --redis-url redis://host:6379/0"
        )
    prefix = prefix or conf.get("redbeat_key_prefix") or DEFAULT_PREFIX
    client = _client(url)
    try:
        records, statics = read_redbeat(client, prefix)
    except redis.RedisError as exc:
        raise click.ClickException(
            f"cannot read RedBeat's keys at {mask_password(url)}: {exc}"
        ) from None
    finally:
        client.close()
    click.echo(f"found {len(records)} RedBeat entries under {prefix!r} at {mask_password(url)}")

    plan, failed, skipped = plan_migration(session, records, statics, replace=replace)
    with_history = [] if without_history else [i for i in plan if i.last_run_at is not None]
    needed = bool(with_history) and not dry_run
    failed_saves = 0
    with history_lease(session, needed, session.settings.lock_ttl) as lease:
        if not dry_run:
            done = session.operations(create=True).import_entries(
                (item.entry for item in plan), by=session.by, include_static=True, via="redbeat"
            )
            for warning in done.warnings:
                click.echo(warning, err=True)
            refused = done.refused
            for name, why in refused.items():
                click.echo(f"could not save {printable(name)}: {why}", err=True)
            plan = [item for item in plan if item.entry.name not in refused]
            with_history = [item for item in with_history if item.entry.name not in refused]
            failed_saves = len(refused)
        if lease is not None:
            write_history(session, lease, with_history)
    for item in plan:
        entry = item.entry
        last = format_instant(item.last_run_at, UTC) if item.last_run_at else "never"
        kind = "static " if entry.static else ""
        click.echo(
            f"{'would migrate' if dry_run else 'migrated'} {kind}{entry.name!r}: "
            f"{describe_schedule(entry, session.default_tz)}, task {printable(entry.task)}, "
            f"last run {last}, {item.total_run_count} runs"
            + (" (disabled)" if not entry.enabled else "")
        )
        for note in item.notes:
            click.echo(f"  note: {note}")
    click.echo(
        f"{len(plan)} {'to migrate' if dry_run else 'migrated'}, {len(failed)} could not be "
        f"converted, {skipped} skipped"
        + (" (dry run: nothing written)" if dry_run else "")
        + (f", {failed_saves} could not be saved" if failed_saves else "")
    )
    if failed or failed_saves:
        raise SystemExit(1)
