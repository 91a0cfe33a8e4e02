"""Which tests share a pytest-xdist worker (``-n 4 --dist loadgroup``, README's test command).

Most tests may run on any worker; these stay together on one, so an expensive setup runs once
and is never built twice at the same time:

- the tests of a module (or class) sharing a fixture wider than a test and narrower than the
  session: a built wheel, a benchmark run, a 10,000-entry store;
- the tests of one server group that takes seconds to start and few tests use
  (:data:`SHARED_SERVER_FIXTURES`).

Each such test gets an ``xdist_group`` mark (:func:`worker_group`). pytest-xdist 3.8 reads those
marks by renaming the test's node id, which pytest 9.2 no longer allows, so the groups are
handed to the controller another way: every worker writes the groups it collected to a file in
a directory the controller gave it, and the controller's scheduler
(:class:`WorkerGroupScheduling`) reads them. Without xdist nothing here runs but the marks.

Registered as a plugin by the root ``conftest.py``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

SHARED_SERVER_FIXTURES = ("redis_sentinel", "redis_cluster", "redis_tls")
"""Session fixtures whose servers take seconds to start: the tests using one share a worker,
so it starts once rather than once per worker."""

WIDE_SCOPES = frozenset({"module", "package", "class"})
GROUPS_DIR = "beatcore_worker_groups"
"""The ``workerinput`` key naming the directory the workers write their groups to."""


def worker_group(item: pytest.Item) -> str | None:
    """The group of ``item`` (a fixture name or a module path), ``None`` for any worker."""
    fixtures = set(getattr(item, "fixturenames", ()))
    for name in SHARED_SERVER_FIXTURES:
        if name in fixtures:
            return name
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs if info is not None else {}
    if any(defs and defs[-1].scope in WIDE_SCOPES for defs in definitions.values()):
        return item.nodeid.split("::", 1)[0]
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist looks for the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test's group; on an xdist worker, also write them for the controller."""
    groups: dict[str, str] = {}
    for item in items:
        group = worker_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            groups[item.nodeid] = group
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and GROUPS_DIR in workerinput:
        path = Path(workerinput[GROUPS_DIR]) / f"{workerinput['workerid']}.json"
        path.write_text(json.dumps(groups), encoding="utf-8")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Called on the controller for each worker before it starts: name the groups' directory."""
    node.workerinput[GROUPS_DIR] = str(_groups_dir(node.config))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Called on the controller at the start: for ``--dist loadgroup``, a scheduler that reads
    the workers' groups; otherwise ``None`` (pytest-xdist's own)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    groups_dir = _groups_dir(config)

    class WorkerGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
        """pytest-xdist's loadgroup, with the groups the workers wrote."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = {}
                for path in sorted(groups_dir.glob("*.json")):
                    self.groups.update(json.loads(path.read_text(encoding="utf-8")))
            group = self.groups.get(nodeid)
            return group if group is not None else str(super()._split_scope(nodeid))

    return WorkerGroupScheduling(config, log)


_DIR_KEY = pytest.StashKey[Path]()


def _groups_dir(config: pytest.Config) -> Path:
    if _DIR_KEY not in config.stash:
        config.stash[_DIR_KEY] = Path(tempfile.mkdtemp(prefix="beatcore-xdist-groups-"))
    return config.stash[_DIR_KEY]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the controller's groups directory at the end of the run."""
    if _DIR_KEY in config.stash:
        shutil.rmtree(config.stash[_DIR_KEY], ignore_errors=True)
