"""``celery beatcore migrate-from-django-celery-beat DATABASE_URL``: copy django-celery-beat's
schedule into beatcore's store.

django-celery-beat's tables are only read (:mod:`.django_beat_format`). Each convertible
periodic task becomes a beatcore entry of the same name, saved through the store API; its
last run and run count become the entry's state (:mod:`beatcore.cli.history`), so the next
run follows the last one. What cannot be converted is reported, one line each with the
reason, and does not stop the others. Running it twice changes nothing: an equal definition
is not written again, and a state that already holds the history is left alone.
"""

from __future__ import annotations

import sqlite3

import click

from beatcore.cli import Session, history, pass_session
from beatcore.cli.describe import describe_schedule, format_instant
from beatcore.errors import CorruptRecord, EntryNotFound
from beatcore.migrating import Migrated, NotConvertible
from beatcore.timeutil import UTC
from beatcore_postgres.django_beat_format import BACKEND_CLEANUP, convert, read_tasks
from beatcore_postgres.urls import mask_url

_VERB = "migrate-from-django-celery-beat"


def plan_migration(
    session: Session,
    rows: list[dict[str, object]],
    *,
    replace: bool,
    known_tasks: set[str] | None,
) -> tuple[list[Migrated], list[tuple[str, str]]]:
    """Convert ``rows``; return the entries to migrate and ``(name, reason)`` of the others.

    A task not in ``known_tasks`` (None: any task) is left out. An entry beatcore already has
    is migrated over only when it came from this migration before (same definition: nothing
    changes) or with ``replace``.
    """
    plan: list[Migrated] = []
    left_out: list[tuple[str, str]] = []
    for row in rows:
        name = str(row["name"])
        if row["task"] == BACKEND_CLEANUP:
            left_out.append((name, "beatcore's scheduler adds celery.backend_cleanup itself"))
            continue
        if known_tasks is not None and row["task"] not in known_tasks:
            left_out.append(
                (
                    name,
                    f"task {row['task']!r} is not registered in the app "
                    f"(--allow-unknown-tasks migrates it all the same)",
                )
            )
            continue
        try:
            item = convert(row)
        except NotConvertible as exc:
            left_out.append((name, str(exc)))
            continue
        try:
            existing = session.store.get(name)
        except EntryNotFound:
            existing = None
        except CorruptRecord:
            existing = item.entry.evolve(task="")  # unreadable: differs from anything
        if existing is not None and existing != item.entry and not replace:
            left_out.append((name, "beatcore has another entry of that name (--replace)"))
            continue
        plan.append(item)
    return plan, left_out


@click.command(_VERB)
@click.argument("database_url")
@click.option("--dry-run", is_flag=True, help="Only print what would be migrated.")
@click.option("--replace", is_flag=True, help="Overwrite beatcore entries with the same name.")
@click.option("--without-history", is_flag=True, help="Do not carry over last run times.")
@click.option(
    "--allow-unknown-tasks", is_flag=True, help="Migrate tasks the app does not register too."
)
@pass_session
def migrate_from_django_celery_beat(
    session: Session,
    database_url: str,
    dry_run: bool,
    replace: bool,
    without_history: bool,
    allow_unknown_tasks: bool,
) -> None:
    """Create beatcore entries from django-celery-beat's periodic tasks, keeping their last
    run times and run counts.

    DATABASE_URL is Django's database: postgresql://user:password@host/db or
    sqlite:///path/to/db.sqlite3. Its tables are only read. Exits 1 when some task could not
    be converted (the others are migrated all the same).
    """
    masked = mask_url(database_url)
    try:
        rows = read_tasks(database_url)
    except ValueError as exc:
        raise click.BadParameter(f"{masked!r}: {exc}", param_hint="'DATABASE_URL'") from None
    except (sqlite3.Error, OSError, ImportError) as exc:
        raise click.ClickException(
            f"cannot read django-celery-beat's tables at {masked}: {exc}"
        ) from None
    except Exception as exc:  # psycopg's errors, without importing it for SQLite sources
        if type(exc).__module__.split(".")[0] != "psycopg":
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(
            f"cannot read django-celery-beat's tables at {masked}: {mask_url(first)}"
        ) from None
    click.echo(f"found {len(rows)} periodic tasks at {masked}")
    known = None
    if not allow_unknown_tasks:
        session.app.loader.import_default_modules()
        known = set(session.app.tasks.keys())
    plan, left_out = plan_migration(session, rows, replace=replace, known_tasks=known)
    past = [] if without_history else [i for i in plan if i.last_run_at is not None]
    saved = written = 0
    with history.history_lease(
        session,
        bool(past) and not dry_run,
        session.settings.lock_ttl,
        source="django-celery-beat",
        verb=_VERB,
    ) as lease:
        if not dry_run:
            done = session.operations(create=True).import_entries(
                (item.entry for item in plan),
                by=session.by,
                include_static=True,
                via="django-celery-beat",
            )
            for warning in done.warnings:
                click.echo(warning, err=True)
            for name, why in done.refused.items():
                left_out.append((name, f"the store refused it: {why}"))
            plan = [item for item in plan if item.entry.name not in done.refused]
            past = [item for item in past if item.entry.name not in done.refused]
            saved = done.written
        if lease is not None:
            written = history.write_history(
                session,
                lease,
                [
                    history.History(i.entry, i.last_run_at, i.total_run_count)
                    for i in past
                    if i.last_run_at
                ],
            )
    _print_table(session, plan, dry_run)
    for name, reason in left_out:
        click.echo(f"not migrated {name!r}: {reason}", err=True)
    summary = (
        f"{len(plan)} to migrate"
        if dry_run
        else f"{len(plan)} migrated ({saved} written, {written} run histories)"
    )
    click.echo(
        f"{summary}, {len(left_out)} not migrated"
        + (" (dry run: nothing written)" if dry_run else "")
    )
    if any(not reason.startswith("beatcore's scheduler") for _, reason in left_out):
        raise SystemExit(1)


def _print_table(session: Session, plan: list[Migrated], dry_run: bool) -> None:
    """One line per mapped task: name, schedule in words, task, last run and run count."""
    if not plan:
        return
    rows = [
        (
            item.entry.name,
            describe_schedule(item.entry, session.default_tz),
            item.entry.task,
            "yes" if item.entry.enabled else "no",
            format_instant(item.last_run_at, UTC) if item.last_run_at else "never",
            str(item.total_run_count),
        )
        for item in plan
    ]
    header = ("NAME", "SCHEDULE", "TASK", "ENABLED", "LAST RUN", "RUNS")
    widths = [max(len(str(col)) for col in column) for column in zip(header, *rows, strict=True)]
    click.echo("would migrate:" if dry_run else "migrated:")
    for line in (header, *rows):
        click.echo(
            "  "
            + "  ".join(col.ljust(width) for col, width in zip(line, widths, strict=True)).rstrip()
        )
