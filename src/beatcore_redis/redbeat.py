"""``celery beatcore migrate-from-redbeat``: copy RedBeat's schedule into beatcore's store.

RedBeat keeps, under its key prefix (``redbeat_key_prefix``, default ``redbeat:``):

- one hash per entry, at ``PREFIX + name``, with a ``definition`` field (JSON: name, task,
  args, kwargs, options, schedule, enabled) and a ``meta`` field (JSON: ``last_run_at`` and,
  once it ran under RedBeat's scheduler, ``total_run_count``);
- the sorted set ``PREFIX + ":schedule"`` of entry keys by due time;
- the set ``PREFIX + ":statics"`` of the names that came from ``beat_schedule``.

Objects inside that JSON carry a ``__type__``: ``datetime`` (wall fields and a zone name or an
offset in seconds), ``interval`` (``every`` seconds, ``relative``), ``crontab`` (the five fields
as given), ``rrule`` (dateutil's keywords; ``dtstart``/``until`` as epoch seconds with a
``*_tz`` offset in minutes) and ``weekday``. This module reads those records and never imports
RedBeat.

Each convertible entry becomes a beatcore entry of the same name (static when RedBeat listed it
as static), saved through the store API; RedBeat's last run and run count become the entry's
state, written with a short-lived lease (as a scheduler writes states), so the next run follows
the last one as it would have under RedBeat. What cannot be converted is reported, one line per
entry, and does not stop the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import click

from beatcore import timing
from beatcore.cli import Session, pass_session
from beatcore.cli.describe import describe_schedule, format_instant
from beatcore.entry import Entry, EntryState
from beatcore.errors import BeatcoreError, CorruptRecord, EntryNotFound
from beatcore.plugins import Plugins
from beatcore.schedules import Crontab, Interval, ScheduleType, Solar
from beatcore.store import Ack, Lease, Store
from beatcore.timeutil import UTC
from beatcore.urls import mask_password
from beatcore.values import is_integer, is_number

DEFAULT_PREFIX = "redbeat:"
_FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_RRULE_LISTS = ("bysetpos", "bymonth", "bymonthday", "byyearday", "byweekno", "byhour",
                "byminute", "bysecond")  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NotConvertible(Exception):
    """A RedBeat record that has no beatcore equivalent; the message says why."""


@attrs.frozen
class Migrated:
    """One RedBeat entry as beatcore sees it: the definition and RedBeat's run history."""

    entry: Entry
    last_run_at: datetime | None
    total_run_count: int
    notes: tuple[str, ...] = ()


def _decode_object(data: dict[str, Any]) -> Any:
    """JSON object hook: RedBeat's ``datetime`` and ``weekday``; other objects stay dicts."""
    kind = data.get("__type__")
    if kind == "datetime":
        zone_field = data.get("timezone", "UTC")
        if isinstance(zone_field, (int, float)):
            tz: Any = timezone(timedelta(seconds=zone_field))
        else:
            from beatcore.timeutil import zone

            tz = zone(str(zone_field))
        fields = {k: int(data[k]) for k in ("year", "month", "day", "hour", "minute", "second")}
        return datetime(**fields, microsecond=int(data.get("microsecond", 0)), tzinfo=tz)
    if kind == "weekday":
        return int(data["wkday"])
    return data


def decode(text: bytes | str | None) -> Any:
    """Decode one RedBeat JSON field (``definition`` or ``meta``); None stays None."""
    if text is None:
        return None
    return json.loads(text, object_hook=_decode_object)


def _instant(seconds: Any, what: str) -> datetime:
    if not is_number(seconds):
        raise NotConvertible(f"rrule {what} is not a timestamp: {seconds!r}")
    return _EPOCH + timedelta(seconds=seconds)


def _rfc_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _offset_zone(minutes: Any) -> str:
    """Return an IANA zone with the fixed UTC offset RedBeat stored for an rrule's dtstart."""
    if not minutes:
        return "UTC"
    if not is_number(minutes) or minutes % 60:
        raise NotConvertible(
            f"rrule dtstart has a UTC offset of {minutes!r} minutes, which no IANA zone with "
            "a fixed offset matches (only whole hours do)"
        )
    hours = int(minutes // 60)
    # IANA's Etc/GMT zones count the other way round: Etc/GMT-1 is UTC+01:00.
    return f"Etc/GMT{-hours:+d}"


def _numbers(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value]
    if not all(is_integer(item) for item in items):
        raise NotConvertible(f"rrule value {value!r} is not a number or a list of numbers")
    return items


def rrule_text(fields: Mapping[str, Any]) -> tuple[str, str]:
    """Return (RFC 5545 text with DTSTART, zone of its wall clock) for RedBeat's rrule fields."""
    freq = fields.get("freq")
    if isinstance(freq, str) and freq.upper() in _FREQUENCIES:
        freq_name = freq.upper()
    elif isinstance(freq, int) and 0 <= freq < len(_FREQUENCIES):
        freq_name = _FREQUENCIES[freq]
    else:
        raise NotConvertible(f"rrule freq {freq!r} is not a known frequency")
    if fields.get("byeaster") not in (None, []):
        raise NotConvertible("rrule byeaster (dateutil's Easter extension) is not RFC 5545")
    parts = [f"FREQ={freq_name}"]
    if fields.get("interval") not in (None, 1):
        parts.append(f"INTERVAL={_numbers(fields['interval'])[0]}")
    if fields.get("count") is not None:
        parts.append(f"COUNT={_numbers(fields['count'])[0]}")
    if fields.get("until") is not None:
        parts.append(f"UNTIL={_rfc_time(_instant(fields['until'], 'until'))}")
    if fields.get("wkst") is not None:
        parts.append(f"WKST={_WEEKDAYS[_numbers(fields['wkst'])[0] % 7]}")
    for name in _RRULE_LISTS:
        if fields.get(name) not in (None, []):
            parts.append(f"{name.upper()}={','.join(map(str, _numbers(fields[name])))}")
    if fields.get("byweekday") not in (None, []):
        days = _numbers(fields["byweekday"])
        parts.append("BYDAY=" + ",".join(_WEEKDAYS[day % 7] for day in days))
    rule = "RRULE:" + ";".join(parts)
    zone_name = _offset_zone(fields.get("dtstart_tz", 0))
    if fields.get("dtstart") is None:
        return rule, zone_name
    start = _instant(fields["dtstart"], "dtstart")
    return f"DTSTART:{_rfc_time(start)}\n{rule}", zone_name


def convert_schedule(
    data: Any, plugins: Plugins
) -> tuple[ScheduleType, str | None, tuple[str, ...]]:
    """Return (schedule, entry tz or None, notes) for a RedBeat schedule object.

    :raises NotConvertible: unknown type or fields beatcore has no equivalent for.
    """
    if not isinstance(data, Mapping) or "__type__" not in data:
        raise NotConvertible(f"schedule {data!r:.80} has no __type__")
    kind = data["__type__"]
    try:
        if kind == "interval":
            every: Any = data.get("every")
            if not data.get("relative"):
                return Interval(every), None, ()
            note = "relative=True: runs on the grid of whole periods since 1970-01-01 UTC"
            return Interval(every, anchor=_EPOCH), None, (note,)
        if kind == "crontab":
            fields = {
                key: data.get(key, "*")
                for key in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
            }
            return Crontab(**fields), None, ()
        if kind == "solar":
            event: Any = data.get("event")
            return Solar(event, data.get("lat"), data.get("lon")), None, ()
        if kind == "rrule":
            text, zone_name = rrule_text(data)
            try:
                cls: Any = plugins.schedule_type("rrule")
            except BeatcoreError as exc:
                raise NotConvertible(f"rrule needs the beatcore-rrule plugin ({exc})") from None
            build = getattr(cls, "from_text", cls)
            return build(text), zone_name, ()
    except (BeatcoreError, ValueError, TypeError) as exc:
        raise NotConvertible(f"{kind} schedule {data!r:.120}: {exc}") from None
    raise NotConvertible(f"schedule type {kind!r} has no beatcore equivalent")


def convert(name: str, definition: Any, meta: Any, *, static: bool, plugins: Plugins) -> Migrated:
    """Return the beatcore form of one RedBeat entry (decoded ``definition`` and ``meta``).

    :raises NotConvertible: with the reason.
    """
    if not isinstance(definition, Mapping):
        raise NotConvertible("the definition is not a JSON object")
    schedule, tz, notes = convert_schedule(definition.get("schedule"), plugins)
    meta = meta if isinstance(meta, Mapping) else {}
    last_run_at = meta.get("last_run_at")
    if last_run_at is not None and not isinstance(last_run_at, datetime):
        raise NotConvertible(f"meta last_run_at {last_run_at!r} is not a datetime")
    count = meta.get("total_run_count") or 0
    try:
        entry = Entry(
            name=name,
            task=str(definition.get("task") or ""),
            schedule=schedule,
            args=definition.get("args") or (),
            kwargs=definition.get("kwargs") or {},
            options=definition.get("options") or {},
            enabled=bool(definition.get("enabled", True)),
            tz=tz,
            static=static,
        )
    except BeatcoreError as exc:
        raise NotConvertible(str(exc)) from None
    return Migrated(entry, last_run_at.astimezone(UTC) if last_run_at else None, int(count), notes)


@attrs.frozen
class RedBeatRecord:
    """One RedBeat hash as read: its key, name and the two raw JSON fields."""

    key: str
    name: str
    definition: bytes | None
    meta: bytes | None


def read_redbeat(client: Any, prefix: str) -> tuple[list[RedBeatRecord], set[str]]:
    """Return RedBeat's entry records under ``prefix`` and the names of its static entries.

    Entries are the members of ``PREFIX:schedule`` plus any other hash under the prefix with a
    ``definition`` field (RedBeat drops a key it could not load from the sorted set).
    """
    reserved = {prefix + ":schedule", prefix + ":statics", prefix + ":lock"}
    keys = {_text(key) for key in client.zrange(prefix + ":schedule", 0, -1)}
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
    keys.update(_text(key) for key in client.scan_iter(match=pattern, count=1000))
    keys -= reserved
    ordered = sorted(keys)
    with client.pipeline(transaction=False) as pipe:
        for key in ordered:
            pipe.type(key)
        types = [_text(kind) for kind in pipe.execute()]
    hashes = [key for key, kind in zip(ordered, types, strict=True) if kind == "hash"]
    with client.pipeline(transaction=False) as pipe:
        for key in hashes:
            pipe.hmget(key, ["definition", "meta"])
        fields = pipe.execute()
    records = [
        RedBeatRecord(key, key[len(prefix) :], definition, meta)
        for key, (definition, meta) in zip(hashes, fields, strict=True)
        if definition is not None
    ]
    statics = {_text(name) for name in client.smembers(prefix + ":statics")}
    return records, statics


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def history_state(store: Store, item: Migrated, default_tz: str) -> EntryState:
    """Return the state that continues RedBeat's history: next run follows the last run."""
    assert item.last_run_at is not None
    current = store.state(item.entry.name)
    next_run = timing.occurrence_after(item.entry, item.last_run_at, default_tz)
    if item.entry.max_runs is not None and item.total_run_count >= item.entry.max_runs:
        next_run = None
    return current.evolve(
        next_run_at=next_run,
        last_run_at=item.last_run_at,
        total_run_count=max(current.total_run_count, item.total_run_count),
    )


@contextlib.contextmanager
def history_lease(session: Session, needed: bool, ttl: float) -> Iterator[Lease | None]:
    """Hold the store's lock while RedBeat's history is written (None when not needed).

    A store writes run facts only through a fenced ack, so the migration takes the lock the
    way a scheduler does, before it writes anything, and releases it at the end.

    :raises click.ClickException: a beatcore scheduler holds the lock (nothing was written).
    """
    if not needed:
        yield None
        return
    store = session.store
    holder = f"migrate-from-redbeat:{socket.gethostname()}:{os.getpid()}"
    lease = store.lock.acquire(holder, ttl)
    if lease is None:
        leader = store.lock.current()
        raise click.ClickException(
            f"a beatcore scheduler ({leader.holder if leader else 'unknown'}) holds the lock of "
            f"{store.url}, so RedBeat's run history cannot be written now; stop beatcore's beat "
            "while migrating, or pass --without-history"
        )
    try:
        yield lease
    finally:
        store.lock.release(lease)


def write_history(session: Session, lease: Lease, items: Sequence[Migrated]) -> None:
    """Write RedBeat's run history as the entries' states, in one ack under ``lease``.

    Each entry is acked against its current state, so a change made meanwhile wins, as with
    any ack.
    """
    store = session.store
    lease = store.lock.renew(lease)  # saving many entries may have taken a while
    acks = []
    for item in items:
        claimed = store.state(item.entry.name)
        state = history_state(store, item, session.default_tz)
        acks.append(Ack(item.entry.name, claimed, state, timing.state_due_at(item.entry, state)))
    store.ack(lease, acks)


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

    RedBeat's keys are only read. Exits 1 when some entry could not be converted (the others
    are migrated all the same).
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

    with_history = [] if without_history else [i for i in plan if i.last_run_at is not None]
    needed = bool(with_history) and not dry_run
    with history_lease(session, needed, session.settings.lock_ttl) as lease:
        if not dry_run:
            for item in plan:
                store.save(item.entry)
        if lease is not None:
            write_history(session, lease, with_history)
    for item in plan:
        entry = item.entry
        last = format_instant(item.last_run_at, UTC) if item.last_run_at else "never"
        kind = "static " if entry.static else ""
        click.echo(
            f"{'would migrate' if dry_run else 'migrated'} {kind}{entry.name!r}: "
            f"{describe_schedule(entry, session.default_tz)}, task {entry.task}, last run "
            f"{last}, {item.total_run_count} runs" + (" (disabled)" if not entry.enabled else "")
        )
        for note in item.notes:
            click.echo(f"  note: {note}")
    click.echo(
        f"{len(plan)} {'to migrate' if dry_run else 'migrated'}, {len(failed)} could not be "
        f"converted, {skipped} skipped" + (" (dry run: nothing written)" if dry_run else "")
    )
    if failed:
        raise SystemExit(1)
