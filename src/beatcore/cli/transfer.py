"""``export`` (entries and states as JSON) and ``import FILE`` (all-or-nothing).

The file format is versioned::

    {"format": "beatcore-export", "version": 1, "exported_at": ..., "store": ...,
     "entries": [{"entry": {...serializer record...}, "state": {...}}, ...]}

Import validates every entry before writing any, then writes them with one
:meth:`~beatcore.store.Store.save_many` (a new entry gets its first run from now, an existing
one keeps its run history as with ``edit``). States in the file
are for reading; they are not written back.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from beatcore.cli.reading import schedule_pages
from beatcore.cli.session import JSON_OPTION, Session, json_list_chunks, pass_session, report
from beatcore.entry import Entry, StoredName
from beatcore.errors import BeatcoreError, CorruptRecord, InvalidEntry
from beatcore.serializer import entry_from_dict, entry_to_dict, state_to_dict
from beatcore.timeutil import isoformat
from beatcore.urls import mask_password

FORMAT = "beatcore-export"
VERSION = 1


@click.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of stdout.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Accepted for scripts: export is JSON.")
@pass_session
def export(session: Session, output: str | None, as_json: bool) -> None:
    """Write every entry and its state as JSON (to stdout, or --output FILE).

    Written a page of 1,000 entries at a time as it is read: the same document as one
    ``json.dumps`` of the whole, holding one page (a store error midway leaves the file cut
    short, which ``import`` refuses, and exits non-zero).
    """
    store = session.existing_store
    head = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": isoformat(session.now()),
        "store": mask_password(store.url),
    }
    unreadable: list[CorruptRecord] = []
    counted = [0]

    def records() -> Iterator[dict[str, Any]]:
        for page in schedule_pages(store):
            for item in page:
                if isinstance(item, CorruptRecord):
                    unreadable.append(item)
                    continue
                counted[0] += 1
                yield {"entry": entry_to_dict(item[0]), "state": state_to_dict(item[1])}

    chunks = export_chunks(head, records())
    if output is None:
        for chunk in chunks:
            click.echo(chunk, nl=False)
    else:
        _write_whole(Path(output), chunks)
        click.echo(f"exported {counted[0]} entries to {output}", err=True)
    for error in unreadable:
        click.echo(f"warning: not exported: {error}", err=True)


def _write_whole(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to a temporary file beside ``path`` and put it in place only once
    the last is written: an export that fails midway (a store outage) leaves the file that
    was there, never a cut-short one."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.writelines(chunks)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_chunks(head: Mapping[str, Any], records: Iterable[Any]) -> Iterator[str]:
    """Yield the export document's text in pieces: ``json.dumps`` of ``head`` with
    ``"entries"`` the ``records`` (indent 2, keys sorted, and a newline), one record at a time."""
    text = json.dumps({**head, "entries": []}, indent=2, sort_keys=True)
    before, _, after = text.partition('"entries": []')
    yield before + '"entries": '
    yield from json_list_chunks(records, level=1)
    yield after + "\n"


def _records(document: Any, source: str) -> list[Any]:
    """Return the entry records of an export document (or of a bare list of records)."""
    if isinstance(document, list):
        return document
    if not isinstance(document, Mapping):
        raise click.ClickException(
            f"{source}: expected a JSON object or list, got {document!r:.60}"
        )
    if document.get("format") != FORMAT:
        raise click.ClickException(
            f"{source}: not a beatcore export (format is {document.get('format')!r}, "
            f"expected {FORMAT!r})"
        )
    if document.get("version") != VERSION:
        raise click.ClickException(
            f"{source}: export version {document.get('version')!r} is not supported "
            f"(this beatcore reads version {VERSION})"
        )
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise click.ClickException(f"{source}: 'entries' must be a list")
    return entries


def parse_entries(document: Any, source: str) -> tuple[list[Entry], list[str]]:
    """Return the valid entries of ``document`` and one error line per invalid record."""
    entries: list[Entry] = []
    errors: list[str] = []
    seen: set[str] = set()
    for index, record in enumerate(_records(document, source)):
        data = record.get("entry", record) if isinstance(record, Mapping) else record
        label = data.get("name", f"#{index + 1}") if isinstance(data, Mapping) else f"#{index + 1}"
        if not isinstance(data, Mapping):
            errors.append(f"{source}: entry #{index + 1} is not a JSON object")
            continue
        try:
            entry = entry_from_dict(data)
            if type(entry.name) is StoredName:  # a document is new input: the name rule holds
                entry = entry.evolve(name=str(entry.name))
        except CorruptRecord as exc:
            errors.append(f"{source}: entry {label!r} (#{index + 1}): {exc.cause}")
            continue
        except InvalidEntry as exc:
            errors.append(f"{source}: entry #{index + 1}: {exc}")
            continue
        if entry.name in seen:
            errors.append(f"{source}: entry {entry.name!r} appears more than once")
            continue
        seen.add(entry.name)
        entries.append(entry)
    return entries, errors


@click.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--dry-run", is_flag=True, help="Only print what would change.")
@click.option(
    "--include-static",
    is_flag=True,
    help="Also import static entries (beat_schedule restores them at its start).",
)
@JSON_OPTION
@pass_session
def import_(
    session: Session, file: Any, dry_run: bool, include_static: bool, as_json: bool
) -> None:
    """Add or update the entries in FILE (an export); nothing is written if any is invalid.

    Entries in the store but not in FILE are left alone. Static entries are skipped unless
    --include-static, because beat_schedule owns them.
    """
    source = getattr(file, "name", "FILE")
    try:
        document = json.load(file)
    except ValueError as exc:
        raise click.ClickException(f"{source} is not valid JSON ({exc})") from None
    entries, errors = parse_entries(document, source)
    if errors:
        for line in errors[:-1]:
            click.echo(f"Error: {line}", err=True)
        raise click.ClickException(
            f"{errors[-1]}\n{len(errors)} invalid entr{'y' if len(errors) == 1 else 'ies'}; "
            "nothing was imported"
        )
    try:
        done = session.operations(create=True).import_entries(
            entries, by=session.by, include_static=include_static, dry_run=dry_run
        )
    except BeatcoreError as exc:
        raise click.ClickException(
            f"saving the entries failed ({exc}); some may be written: importing the file "
            "again is safe"
        ) from None
    for warning in done.warnings:
        click.echo(warning, err=True)
    if done.refused:
        for name, why in done.refused.items():
            click.echo(f"Error: not imported {name!r}: {why}", err=True)
        planned = done.written + len(done.refused)
        raise click.ClickException(
            f"{len(done.refused)} of {planned} entries could not be saved; "
            f"the other {done.written} were"
        )
    prefix = "would " if dry_run else ""
    lines: list[str] = []
    for item in done.items:
        if item.action == "skip":
            lines.append(f"skip {item.name!r} (static: beat_schedule owns it)")
        elif item.action == "unchanged":
            lines.append(f"unchanged {item.name!r}")
    for item in done.items:
        if item.action == "add":
            lines.append(f"{prefix}add {item.name!r}")
        elif item.action == "update":
            lines.append(f"{prefix}update ({', '.join(item.changed)}) {item.name!r}")
    total = done.written
    summary = f"{total} entr{'y' if total == 1 else 'ies'} {'to change' if dry_run else 'changed'}"
    lines.append(summary + (" (dry run: nothing written)" if dry_run else ""))
    outcomes = [
        {"name": item.name, "action": item.action, "changed": list(item.changed)}
        for item in done.items
    ]
    report(as_json, "\n".join(lines), {"dry_run": dry_run, "changed": total, "entries": outcomes})
