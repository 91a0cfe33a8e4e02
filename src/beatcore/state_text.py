"""A state text in the form the store writes, read without the JSON decoder.

:func:`beatcore.record_text.dumps_state` writes a state as its members in key order, each
left out at its default, compact, ASCII: the same few keys around a few variable values
(instants, counts, a task id). :func:`read_written` matches a text against that form (one
regular expression, its fixed parts the keys and the punctuation) and parses the values it
slices out directly: no JSON decoder, no dict, no field table. Releases before compact
records wrote every member, the empty ones ``null`` or ``0``: the form takes those too.

Anything the form does not match exactly (whitespace, an escape or a character that is not
printable ASCII in a string, another key order, an unknown or repeated key, a number that is
not a plain count, an instant that is not in UTC) gives None, and the caller
(:func:`beatcore.serializer.loads_state`) decodes the text the full, validating way. A text
the form matches is a JSON object whose members are exactly those sliced out, each string
with no escape (so its JSON value is its text), each count a plain integer below
:data:`~beatcore.entry.MAX_COUNT`: its state is the one the full decode gives
(tests/core/test_state_text.py compares the two on hostile texts).
"""

from __future__ import annotations

import re
from datetime import datetime

from beatcore.entry import EntryState, checked_state
from beatcore.timeutil import UTC

#: A JSON string's contents that are their own value: printable ASCII, no quote, no backslash.
_TEXT = r'"([ !#-\[\]-~]*)"'
#: An instant's text (datetime.fromisoformat judges it).
_INSTANT = r'"([0-9T:.+-]*)"'
#: A count: a JSON integer of at most 18 digits, no sign (so below MAX_COUNT, 2**63 - 1).
_COUNT = r"(0|[1-9][0-9]{0,17})"

# Each member is one of two branches, itself or nothing (an optional group, ``(...)?``,
# costs the regular expression engine a third more: it saves and restores its marks).
_FORM = re.compile(
    "{"
    f'(?:"last_error":(?:null|{_TEXT}),|)'
    f'(?:"last_run_at":(?:null|{_INSTANT}),|)'
    f'(?:"last_task_id":(?:null|{_TEXT}),|)'
    f'(?:"next_run_at":(?:null|{_INSTANT}),|)'
    f'(?:"skipped_run_count":{_COUNT},|)'
    f'(?:"total_run_count":{_COUNT},|)'
    f'(?:"triggered_at":(?:null|{_INSTANT}),|)'
    '"v":1}'
)
_match = _FORM.fullmatch
_parse = datetime.fromisoformat


def read_written(text: str | bytes) -> EntryState | None:
    """Return the state of ``text`` when it is in the form the store writes, else None.

    Called by :func:`beatcore.serializer.loads_state` for each state text it has not read
    lately (every claimed entry of a tick whose states are unique: triggered entries, runs
    spread in time), before the full decode, which it does only when this gives None. The
    state is the one the full decode gives; None never means unreadable, only "not this
    form".
    """
    # latin-1 never fails; a text the form matches is ASCII, where it reads as UTF-8
    match = _match(text.decode("latin-1") if type(text) is bytes else text)  # type: ignore[arg-type]
    if match is None:
        return None
    error, last, task, nxt, skipped, total, triggered = match.groups()
    try:
        next_run_at = None if nxt is None else _parse(nxt)
        last_run_at = None if last is None else _parse(last)
        triggered_at = None if triggered is None else _parse(triggered)
    except ValueError:
        return None  # the full decode names the field
    if not (
        (next_run_at is None or next_run_at.tzinfo is UTC)
        and (last_run_at is None or last_run_at.tzinfo is UTC)
        and (triggered_at is None or triggered_at.tzinfo is UTC)
    ):
        return None  # naive, or another offset: the full decode refuses or converts it
    return checked_state(
        next_run_at,
        last_run_at,
        0 if total is None else int(total),
        0 if skipped is None else int(skipped),
        task,
        error,
        triggered_at,
    )
