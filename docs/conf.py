"""Sphinx configuration for the beatcore documentation.

Built with ``sphinx-build -W -n docs OUT`` in .ci/run: every warning fails the build, and
every cross-reference must resolve (``nitpick_ignore_regex`` lists the other projects' names,
which have no inventory offline).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "beatcore"
author = "the beatcore developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "clidoc"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
# Wide enough for the tables and the status output at 1280 px.
html_theme_options = {"page_width": "1240px", "sidebar_width": "220px"}
html_static_path = ["_static"]
html_css_files = ["beatcore.css"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(datetime|collections|typing|types|enum|threading|logging|pathlib|json|os|sqlite3)(\..*)?",
    ),
    (r"py:.*", r"(click|celery|kombu|pluggy|attrs|attr|pytest|_pytest|redis|psycopg)(\..*)?"),
    (r"py:.*", r"(starlette|jinja2|uvicorn|a2wsgi)(\..*)?"),
    (r"py:.*", r"(Any|Callable|Iterable|Iterator|Mapping|Sequence|TypeVar|ClassVar|Literal)"),
    (r"py:.*", r"(datetime|timedelta|tzinfo|ZoneInfo|Path|ModuleType|TracebackType|Lock)"),
    (r"py:.*", r"(NoneType|_S|T|F|CatchUp|Raw|Clock|PlantCorrupt|OpenStore)"),
    # names in docstrings of modules the reference does not show on their own page
    (r"py:.*", r"(FieldSpec|Skipped|next_after|hookimpl|args|start_at|CorruptRecord)"),
    (r"py:.*", r"(SqliteStore|Location|beatcore\.cli\.session\.F)"),
    # a package docstring naming its own submodules by their short names
    (r"py:mod", r"[a-z_]+"),
    (r"py:.*", r"(time\.monotonic|What a store hands the kit for one stored field)"),
]
