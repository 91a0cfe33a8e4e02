"""The ``argsrepr`` and ``kwargsrepr`` headers of a message, as Celery writes them.

Celery's ``saferepr`` (what ``apply_async`` puts in those headers) streams a value's repr
token by token to cut it at a length and a nesting depth; for a message whose arguments
are its own (one schedule per customer) it was a quarter of the message's cost. For the
values an entry's arguments usually are (JSON's: containers of str, int, float, bool and
None) that are short enough and nested less deep than its limit, its text is Python's
``repr``, made in C: :func:`argument_repr` gives that, and ``saferepr``'s own text for
anything else. ``tests/core/test_argument_repr.py`` holds the two against each other.
"""

from __future__ import annotations

from typing import Any

from celery.utils.saferepr import saferepr

#: Atoms whose repr is the text saferepr writes of them (``str(value)`` for numbers).
_ATOMS = (int, float, bool, type(None))


def argument_repr(value: Any, maxlen: int, maxlevels: int) -> str:
    """Return ``saferepr(value, maxlen, maxlevels=maxlevels)``; called for the arguments of
    each message made from another by its arguments alone."""
    if _reprs_alike(value, 0, maxlevels):
        text = repr(value)
        # below the limit throughout: saferepr cuts no token (its check comes before each)
        if len(text) < maxlen:
            return text
    return saferepr(value, maxlen, maxlevels=maxlevels)  # type: ignore[no-any-return]


def _reprs_alike(value: Any, depth: int, maxlevels: int) -> bool:
    """True when ``value`` (a container at nesting ``depth``) and everything in it is of a
    kind whose repr is saferepr's text, none deep enough for saferepr to stand ``...`` in."""
    kind = type(value)
    if kind is not tuple and kind is not list and kind is not dict:
        return False
    if maxlevels and depth >= maxlevels:  # saferepr writes it as "[...]"
        return False
    if kind is dict:
        for key in value:
            if type(key) is not str or not _plain_text(key):
                return False
        items = value.values()
    else:
        items = value
    for item in items:
        kind = type(item)
        if kind is str:
            if not _plain_text(item):
                return False
        elif kind not in _ATOMS and not _reprs_alike(item, depth + 1, maxlevels):
            return False
    return True


def _plain_text(text: str) -> bool:
    """True when saferepr quotes ``text`` as repr does: single quotes around it as it is
    (repr would escape a backslash or a control character, or choose double quotes)."""
    return text.isprintable() and "'" not in text and "\\" not in text
