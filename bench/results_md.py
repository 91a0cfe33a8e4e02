"""bench/RESULTS.md in sections, so each benchmark rewrites only its own.

A section is the text between ``<!-- section: NAME -->`` and ``<!-- end section: NAME -->``
(each marker on a line of its own). :func:`replace_section` puts a new body between the
markers of one name and leaves everything else in the file as it was; a section not in the
file yet is appended at its end. ``python -m bench.report --results-md bench/RESULTS.md``
writes the ``redbeat`` section (the side-by-side run), ``python -m bench.million
--results-md bench/RESULTS.md`` the ``million`` one; other benchmarks (PostgreSQL, the
publishing burst) keep theirs under their own names.
"""

from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    """Return the opening and closing marker lines of section ``name``."""
    return f"<!-- section: {name} -->", f"<!-- end section: {name} -->"


def replace_section(text: str, name: str, body: str) -> str:
    """Return ``text`` with section ``name`` holding ``body`` (appended when missing).

    :raises ValueError: the section is opened and not closed, or closed before it opens.
    """
    opening, closing = markers(name)
    block = f"{opening}\n\n{body.strip()}\n\n{closing}"
    start, end = text.find(opening), text.find(closing)
    if start == -1 and end == -1:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    if start == -1 or end == -1 or end < start:
        raise ValueError(f"section {name!r} of bench/RESULTS.md has unbalanced markers")
    return text[:start] + block + text[end + len(closing) :]


def write_section(path: Path, name: str, body: str) -> None:
    """Rewrite section ``name`` of the file at ``path`` (created when missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(replace_section(text, name, body), encoding="utf-8")
