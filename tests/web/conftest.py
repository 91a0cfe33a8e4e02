"""The dashboard over a real SQLite store, in-process through Starlette's test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the dashboard needs the 'web' extra")

from starlette.testclient import TestClient

from beatcore.stores.sqlite import SqliteStore
from beatcore.testing import FakeClock
from beatcore.timeutil import UTC
from beatcore_web import WebConfig, create_app

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CRON_FIELDS = {"hour": "*", "day_of_month": "*", "month_of_year": "*", "day_of_week": "*"}

MakeClient = Callable[..., TestClient]


def cron(minute: str = "*/5", **fields: str) -> dict[str, Any]:
    """The API's JSON of a crontab schedule."""
    return {"type": "crontab", "minute": minute, **CRON_FIELDS, **fields}


def definition(name: str = "report", **fields: Any) -> dict[str, Any]:
    """The API's JSON of a new entry (a crontab every five minutes)."""
    return {"name": name, "task": "proj.report", "schedule": cron(), **fields}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "schedule.sqlite3", clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def make_client(store: SqliteStore, clock: FakeClock) -> MakeClient:
    """Return a client of a dashboard over ``store`` with the given WebConfig fields."""

    def make(**config: Any) -> TestClient:
        # Probes wait 80 ms in production; here the answer, not the machine's load, is tested.
        config.setdefault("probe_timeout", 10.0)
        app = create_app(store, config=WebConfig(**config), clock=clock, default_tz="UTC")
        return TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1")

    return make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
