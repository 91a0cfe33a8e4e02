"""The stored text of definitions that differ only in their name, written once.

Entries made from one template (one schedule per customer, an import, a static set of
similar jobs) have definition texts that differ only in the name's JSON string: the
write side of the serializer's templates (its read side is ``beatcore.serializer``'s
``_from_template``). :func:`definition_text` keeps the text before and after the name of
each distinct definition (:class:`DefinitionTemplate`) and writes the next entry of that
template as those two halves around its name, the bytes :func:`dumps_entry` would write.

An entry's template is the tuple of its other fields (:func:`shape_key`), exact where
equal values could be written differently (``1``, ``1.0`` and ``True``; ``-0.0``; a
crontab's own texts): such values are part of the key by type or by text, or the entry has
no template and is written the long way. Only entries with a schedule of a built-in type
have one (third-party schedules need not be values), and only entries without args, kwargs
or options: encoding those is most of the cost of a text, so a template would save nothing
on them, and when they hold one customer each (the usual reason to have them) every entry
would be a template of its own, made for nothing. Bounded: the table starts again empty
when it holds :data:`TEMPLATES_LIMIT` templates, and a text longer than
:data:`TEMPLATE_TEXT_LIMIT` is not kept.
"""

from __future__ import annotations

from datetime import datetime
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from beatcore.entry import Entry
from beatcore.record_text import definition_halves, dumps_entry
from beatcore.schedules.interval import written_alike
from beatcore.schedules.shared import is_shared

#: Most templates kept (the table starts again empty past it), and the longest text kept.
TEMPLATES_LIMIT = 1024
TEMPLATE_TEXT_LIMIT = 4096

#: Field values whose equality is equality of their text (given the type, which is in the
#: key): 1, 1.0 and True are equal but written apart; a subclass may compare as it likes.
_EXACT = frozenset((str, int, float, bool, type(None), datetime))


class DefinitionTemplate:
    """The text of the definitions that differ from ``entry`` only in their name.

    :param entry: the first entry seen with this template (its fields other than the name
        are every other entry's of the template).
    """

    __slots__ = ("after", "before", "entry")

    def __init__(self, entry: Entry, before: str, after: str) -> None:
        self.entry = entry
        self.before = before
        self.after = after

    def text(self, name: str) -> str:
        """Return the definition text of the template's entry called ``name``."""
        return self.before + _quote(name) + self.after


_TEMPLATES: dict[tuple[Any, ...], DefinitionTemplate] = {}
#: The template :func:`template_of` returned last (a batch's entries mostly share one).
_last: DefinitionTemplate | None = None


def shape_key(entry: Entry) -> tuple[Any, ...] | None:
    """Return the key of ``entry``'s fields other than the name, args, kwargs and options:
    two entries of equal keys are written alike but for those (and, when both have none
    of them, are of one template); None when its fields are not all plain values.

    Also the key of a batch's entries whose first state is computed once (that state
    depends on the timing fields and the instant only).
    """
    schedule = entry.schedule
    if not is_shared(schedule):
        return None
    fields = schedule.to_dict()
    values = tuple(fields.values())
    scalars = (
        entry.task,
        entry.enabled,
        entry.tz,
        entry.start_at,
        entry.end_at,
        entry.max_runs,
        entry.catch_up,
        entry.misfire_grace,
        entry.jitter,
        entry.static,
        entry.description,
        entry.overlap,
        entry.overlap_timeout,
    )
    types = (*map(type, values), *map(type, scalars))
    # a zero may be -0.0, equal to 0.0 but written apart (a jitter of either is left out)
    if not _EXACT.issuperset(types) or 0.0 in values or entry.misfire_grace == 0:
        return None
    return (type(schedule), *fields, *values, *scalars, *types)


def template_of(entry: Entry) -> DefinitionTemplate | None:
    """Return ``entry``'s template (made now if it is the first of it), or None when it has
    none: its text is then :func:`dumps_entry`'s.

    :raises InvalidEntry, InvalidSchedule: as :func:`dumps_entry` (nothing is kept).
    """
    global _last
    last = _last
    if last is not None and _written_alike(entry, last.entry):
        return last
    if entry.args or entry.kwargs or entry.options:
        return None
    key = shape_key(entry)
    if key is None:
        return None
    template = _TEMPLATES.get(key)
    if template is None:
        before, after = definition_halves(entry)
        if len(before) + len(after) > TEMPLATE_TEXT_LIMIT:
            return None
        template = DefinitionTemplate(entry, before, after)
        if len(_TEMPLATES) >= TEMPLATES_LIMIT:
            _TEMPLATES.clear()
        _TEMPLATES[key] = template
    _last = template
    return template


def _written_alike(entry: Entry, known: Entry) -> bool:
    """A quick test that ``entry`` is written as ``known`` (a template's) but for the
    name: no args, kwargs or options, each other field the same object, or an equal str
    (task) or Interval (a new one per entry). False says nothing: the key decides.

    Called by :func:`template_of` for every entry it is asked about.
    """
    if entry.args or entry.kwargs or entry.options:
        return False  # first: a changed save's new arguments end the test at once
    schedule, other = entry.schedule, known.schedule
    task = entry.task
    return (
        written_alike(schedule, other)
        and (task is known.task or (type(task) is str and task == known.task))
        and entry.enabled is known.enabled
        and entry.tz is known.tz
        and entry.start_at is known.start_at
        and entry.end_at is known.end_at
        and entry.max_runs is known.max_runs
        and entry.catch_up is known.catch_up
        and entry.misfire_grace is known.misfire_grace
        and entry.jitter is known.jitter
        and entry.static is known.static
        and entry.description is known.description
        and entry.overlap is known.overlap
        and entry.overlap_timeout is known.overlap_timeout
    )


def definition_text(entry: Entry) -> str:
    """Return :func:`dumps_entry` of ``entry``, written from its template when it has one.

    Called for every definition a save or ``save_many`` writes.
    """
    template = template_of(entry)
    if template is None:
        return dumps_entry(entry)
    return template.text(entry.name)


def clear() -> None:
    """Forget every template (for measurements that want a cold start, and tests)."""
    global _last
    _TEMPLATES.clear()
    _last = None


def template_count() -> int:
    """Return how many templates are kept (at most :data:`TEMPLATES_LIMIT`)."""
    return len(_TEMPLATES)
