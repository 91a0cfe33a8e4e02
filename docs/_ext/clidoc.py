"""``.. beatcore-cli::``: the command-line reference, written from the click commands.

Run by the docs build, so the reference says what the code does: each built-in verb's usage
line, its help text and every option with its help, in the order ``--help`` shows them.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def _command(path: str) -> click.Command:
    module, _, name = path.partition(":")
    command: click.Command = getattr(importlib.import_module(module), name)
    return command


def _lines(name: str, command: click.Command, parent: click.Context) -> list[str]:
    ctx = click.Context(command, info_name=name, parent=parent)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [name, "~" * len(name), "", ".. code-block:: text", ""]
    lines.append(f"   celery -A APP beatcore [-s FILE] [--url URL] {name} {usage}")
    lines.append("")
    help_text = (command.help or "").strip()
    for paragraph in help_text.split("\n\n"):
        lines.extend(line.strip() for line in paragraph.splitlines())
        lines.append("")
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
    for param in options:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        flags, text = record
        lines.append(f"``{flags}``")
        lines.append(f"   {text or '-'}")
        lines.append("")
    return lines


class BeatcoreCli(SphinxDirective):
    """Render the group's options and every built-in verb of ``celery beatcore``."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from beatcore.cli import BUILTIN_VERBS, beatcore

        root = click.Context(beatcore, info_name="beatcore")
        lines = ["The ``beatcore`` group", "~~~~~~~~~~~~~~~~~~~~~~", ""]
        for param in beatcore.get_params(root):
            record = param.get_help_record(root)
            if record is not None:
                lines += [f"``{record[0]}``", f"   {record[1]}", ""]
        for name in sorted(BUILTIN_VERBS):
            lines += _lines(name, _command(BUILTIN_VERBS[name]), root)
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="beatcore-cli"), container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive (Sphinx calls this when loading the extension)."""
    app.add_directive("beatcore-cli", BeatcoreCli)
    return {"parallel_read_safe": True}
