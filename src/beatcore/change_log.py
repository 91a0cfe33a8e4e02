"""The change log's rules every store shares (part of the store kit, importable from
:mod:`beatcore.storekit` too): which of a batch of changes a store writes, what a log bounded
per name keeps, how stored records read. A store keeps only the I/O."""

from __future__ import annotations

import json.encoder
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from beatcore.store import Change

#: The name a template record holds, where each change's own name goes (no real name is it:
#: a template is only split at its JSON text).
_PLACEHOLDER = "\x00beatcore-name\x00"
_PLACEHOLDER_JSON = json.encoder.encode_basestring_ascii(_PLACEHOLDER)


def trim_log(log: Iterable[tuple[str, Any]], size: int) -> list[tuple[str, Any]]:
    """Return ``(name, record)`` pairs given newest first without all but the newest ``size``
    of each name: what a log bounded per name keeps (``size`` 0 keeps none)."""
    counts: dict[str, int] = {}
    kept: list[tuple[str, Any]] = []
    for name, record in log:
        count = counts.get(name, 0)
        if count < size:
            kept.append((name, record))
            counts[name] = count + 1
    return kept


def kept_changes(changes: Sequence[Change], size: int) -> list[Change]:
    """Return what ``record_changes`` writes, in the order given: the newest ``size`` changes
    of each name (``size`` 0 keeps none). The store then drops all but the newest ``size``
    records of each name written."""
    if size > 0 and len({change.name for change in changes}) == len(changes):
        return list(changes)  # one change per name (beat's static sync): all kept
    newest_first = ((change.name, change) for change in reversed(changes))
    return [change for _, change in reversed(trim_log(newest_first, size))]


def changes_by_name(changes: Sequence[Change], size: int) -> dict[str, list[str]]:
    """Return the texts of :func:`kept_changes` by name, oldest first: for a store that
    keeps a log per name."""
    grouped: dict[str, list[str]] = {}
    kept = kept_changes(changes, size)
    for change, text in zip(kept, change_texts(kept), strict=True):
        grouped.setdefault(change.name, []).append(text)
    return grouped


def change_texts(changes: Iterable[Change]) -> list[str]:
    """Return :meth:`beatcore.store.Change.to_json` of each of ``changes``, the same texts
    made faster for a batch whose changes differ only in their names (beat's static sync:
    one template per action, at, by, reason, fields and via, the name's JSON string put in).
    A change holding the very objects of the one before it (as a batch made at one instant
    by one caller does) takes its template without building the key."""
    templates: dict[tuple[Any, ...], tuple[str, str] | None] = {}
    texts: list[str] = []
    encode = json.encoder.encode_basestring_ascii
    last: Change | None = None
    template: tuple[str, str] | None = None
    for change in changes:
        if not (
            last is not None
            and change.at is last.at
            and change.action is last.action
            and change.by is last.by
            and change.reason is last.reason
            and change.fields is last.fields
            and change.via is last.via
        ):
            template = _template(change, templates)
            last = change
        if template is None:
            texts.append(change.to_json())
        else:
            texts.append(template[0] + encode(change.name) + template[1])
    return texts


def _template(
    change: Change, templates: dict[tuple[Any, ...], tuple[str, str] | None]
) -> tuple[str, str] | None:
    """Return the text of ``change`` split where its name goes, from ``templates`` or made
    and added there; None when the texts of its kind are made whole (the placeholder shows
    up elsewhere in the text)."""
    at = change.at
    key = (change.action, at, at.utcoffset(), change.by, change.reason, change.fields, change.via)
    if key in templates:
        return templates[key]
    text = attrs.evolve(change, name=_PLACEHOLDER).to_json()
    head, found, tail = text.partition(_PLACEHOLDER_JSON)
    template = (head, tail) if found and _PLACEHOLDER_JSON not in tail else None
    templates[key] = template
    return template


def read_changes(stored: Iterable[str | bytes], limit: int | None) -> list[Change]:
    """Return the readable changes of ``stored`` (newest first, as a store reads them), at
    most ``limit``; an unreadable record is left out and never stops the others."""
    return read_newest(stored, limit, Change.from_json)


def read_newest(
    stored: Iterable[str | bytes], limit: int | None, read: Callable[[str | bytes], Any]
) -> list[Any]:
    """Return what ``read`` makes of each of ``stored`` (newest first), at most ``limit``,
    leaving out what it cannot read (None); the run history reads the same way."""
    found: list[Any] = []
    for raw in stored:
        if limit is not None and len(found) >= limit:
            break
        record = read(raw)
        if record is not None:
            found.append(record)
    return found
