"""The definitions one store decoded lately, by name, so bytes read again are not decoded again.

An entry that runs every minute is claimed every minute with the same definition bytes: a
definition changes only when something writes it (a save, the static sync, a migration, an
edit), and what it writes is the new definition's own bytes. Decoding
(:func:`beatcore.serializer.loads_entry`) is a function of the name and the bytes alone, and
an :class:`~beatcore.entry.Entry` is immutable (frozen; its dicts are never changed in
place), so bytes equal to those decoded last time under the same name give an equal Entry:
:class:`DefinitionCache` returns the one it decoded then. Bytes that differ in any way are
decoded again; bytes that do not decode raise :class:`~beatcore.errors.CorruptRecord` as
they always do and are never kept, so they raise it on every read.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from itertools import islice

from beatcore.entry import Entry
from beatcore.plugins import on_schedule_types_changed
from beatcore.serializer import loads_entry

#: Names whose definition a cache keeps at most. Measured (tracemalloc): about 1.0 KB per
#: kept definition of ``Entry(name, task, Interval(...))`` (a 95-byte text), 1.5 KB with a
#: few kwargs and options (203 bytes): so about 1 to 1.5 MB per store, whatever its size.
DEFINITIONS_LIMIT = 1024
#: The longest definition text kept (longer ones are decoded each time): a cache holds at
#: most ``DEFINITIONS_LIMIT`` texts of this size and their entries.
DEFINITION_TEXT_LIMIT = 1024

#: A kept definition: its text and the Entry decoded from it.
Kept = tuple[str | bytes, Entry]


class DefinitionCache:
    """The Entry last decoded from the definition text of each name, for one store.

    Bounded: at most ``limit`` names (:data:`DEFINITIONS_LIMIT`), texts of at most
    :data:`DEFINITION_TEXT_LIMIT` characters. Once full, it takes no new name (nor a held
    name's new text); after as many definitions it could not take as it holds, it starts
    again empty. So a schedule with more frequent entries than the limit keeps reading the
    same ``limit`` of them from the cache, instead of each new name pushing out the one due
    next, and a burst of entries that run once (a midnight with 100,000) costs it a bounded
    refill now and then.

    A claim reads it in two steps, so that a definition it does not hold costs it a look-up
    and a count (a few hundred instructions; an item added per definition would cost a
    thousand): :attr:`find` per definition, then :meth:`keep` once per page, which adds the
    page's definitions in one dict update. :meth:`loads` is both for one definition.

    Not locked: a store's claims are read by one thread, and each item is a whole
    ``(text, Entry)`` pair compared with the text on each read, so a race can only make it
    miss.

    :param limit: names kept at most.
    """

    __slots__ = ("__weakref__", "_kept", "_refused", "find", "limit")

    def __init__(self, limit: int = DEFINITIONS_LIMIT) -> None:
        self.limit = limit
        self._kept: dict[str, Kept] = {}
        self._refused = 0
        #: ``find(name)``: the text and Entry kept for ``name``, or None. Its Entry is the
        #: definition only when the text equals the one read now (a store hands back its
        #: definitions as one type: bytes, or str).
        self.find: Callable[[str], Kept | None] = self._kept.get
        _CACHES.add(self)

    def clear(self) -> None:
        """Forget every kept definition (called when a plugin is registered or taken out)."""
        self._kept.clear()  # the same dict: ``find`` stays bound to it
        self._refused = 0

    def __len__(self) -> int:
        return len(self._kept)

    def keep(
        self,
        names: Iterable[str],
        texts: Sequence[str | bytes],
        entries: Iterable[Entry],
        decoded: int,
    ) -> None:
        """Keep a page of definitions read: ``names``, ``texts`` and ``entries`` in step,
        ``decoded`` of them decoded (the others were found here), as far as the limit lets
        it: the first as many as it has room for.

        Called once per claimed page that decoded any definition.
        """
        kept, limit = self._kept, self.limit
        if self._refused >= limit:
            kept.clear()
            self._refused = 0
        room = limit - len(kept)
        if room <= 0 or not decoded:
            self._refused += decoded
            return
        items = zip(texts, entries, strict=True)
        pairs: Iterable[tuple[str, Kept]] = zip(names, items, strict=True)
        if max(map(len, texts)) > DEFINITION_TEXT_LIMIT:
            pairs = ((name, item) for name, item in pairs if len(item[0]) <= DEFINITION_TEXT_LIMIT)
        if decoded > room:  # each decoded one may be a new name: at most ``room`` of them
            self._refused += decoded - room
            pairs = islice(pairs, room)
        kept.update(pairs)

    def loads(self, text: str | bytes, name: str) -> Entry:
        """Return the definition ``text`` of ``name`` as ``serializer.loads_entry(text,
        name)`` does: the Entry kept for ``name`` when ``text`` equals its text, else
        ``text`` decoded (and kept, room permitting).

        :raises CorruptRecord: ``text`` cannot be read (nothing is kept).
        """
        found = self.find(name)
        if found is not None and found[0] == text:
            return found[1]
        entry = loads_entry(text, name)
        self.keep((name,), (text,), (entry,), 1)
        return entry


#: Every definition cache alive, so a change of the schedule types empties them all.
_CACHES: weakref.WeakSet[DefinitionCache] = weakref.WeakSet()


def _forget_all() -> None:
    for cache in list(_CACHES):  # a copy: another thread may make a cache meanwhile
        cache.clear()


on_schedule_types_changed(_forget_all)
