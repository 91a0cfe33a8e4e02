"""The entries table on the server: a 10k-entry schedule a page at a time, filters, order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from beatcore import serializer, storekit, timing
from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.stores.sqlite import SqliteStore
from beatcore.testing import FakeClock
from beatcore_web.listing import Query, read_page

from .conftest import START

N = 10_000


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A schedule file of 10,000 entries e00000 ... e09999, every 1000th disabled.

    Written in one transaction as the store writes a new entry (its record and first
    state), since 10,000 saves of one transaction each take half a minute here.
    """
    path = tmp_path_factory.mktemp("big") / "schedule.sqlite3"
    with SqliteStore(path, clock=FakeClock(START)) as store:
        store.save(Entry("seed", "proj.report", Interval(60)))
        store.delete("seed")
        rows = []
        for i in range(N):
            entry = Entry(f"e{i:05d}", "proj.report", Interval(60 + i % 7), enabled=i % 1000 != 0)
            state = storekit.decide_save(entry, None, START, "UTC").state
            due = timing.state_due_at(entry, state)
            rows.append(
                (
                    entry.name,
                    serializer.dumps_entry(entry),
                    serializer.dumps_state(state),
                    storekit.to_micros(state.next_run_at),
                    storekit.to_micros(due),
                )
            )
        with store._db.transaction(write=True) as conn:
            conn.executemany(
                "INSERT INTO entries (name, entry_json, state_json, next_run_at, due_at)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        assert len(store.entries()) == N
    return path


@pytest.fixture
def big(big_file: Path, clock: FakeClock) -> Iterator[SqliteStore]:
    with SqliteStore(big_file, clock=clock) as store:
        yield store


@pytest.fixture
def store(big: SqliteStore) -> SqliteStore:
    return big


def names(body: dict[str, Any]) -> list[str]:
    return [item["name"] for item in body["entries"]]


def test_a_page_of_10k_entries(client: TestClient, big: SqliteStore) -> None:
    first = client.get("/api/entries?limit=100").json()
    assert names(first) == [f"e{i:05d}" for i in range(100)]
    assert first["next_after"] == "e00099"
    assert first["searched"] == 101  # one page (and one more to know there is more) read
    second = client.get("/api/entries?limit=100&after=e00099").json()
    assert names(second)[0] == "e00100"
    html = client.get("/?limit=50")
    assert html.status_code == 200 and html.text.count('class="entry-link"') == 50
    assert 'id="next-page"' in html.text


def test_walking_every_page_gives_every_entry_once(client: TestClient, big: SqliteStore) -> None:
    seen: list[str] = []
    after = None
    while True:
        body = client.get(
            "/api/entries", params={"limit": 1000, **({"after": after} if after else {})}
        ).json()
        seen += names(body)
        after = body["next_after"]
        if after is None:
            break
    assert seen == [f"e{i:05d}" for i in range(N)]


def test_filters_and_order(client: TestClient, big: SqliteStore) -> None:
    prefixed = client.get("/api/entries?pattern=e012*&limit=1000").json()
    assert names(prefixed) == [f"e{i:05d}" for i in range(1200, 1300)]
    assert prefixed["searched"] <= 102  # a literal start reads only those names
    disabled = client.get("/api/entries?state=disabled").json()
    assert names(disabled) == [f"e{i:05d}" for i in range(0, N, 1000)]
    glob = client.get("/api/entries?pattern=*99&state=enabled&limit=3").json()
    assert names(glob) == ["e00099", "e00199", "e00299"]
    desc = client.get("/api/entries?order=desc&limit=2").json()
    assert names(desc) == ["e09999", "e09998"]
    assert names(client.get("/api/entries?order=desc&limit=2&after=e09998").json()) == [
        "e09997",
        "e09996",
    ]
    prefixed_desc = client.get("/api/entries?pattern=e0001*&order=desc&limit=3").json()
    assert names(prefixed_desc) == ["e00019", "e00018", "e00017"]


def test_a_scan_stops_at_its_limit_with_a_cursor(big: SqliteStore, clock: FakeClock) -> None:
    """A filter matching nothing reads at most scan_limit records, and says where it got."""
    page = read_page(big, Query(pattern="*nothing*"), clock(), 60.0, scan_limit=2500)
    assert page.items == () and page.partial
    assert 2500 <= page.searched < 2500 + 1000
    assert page.next_after is not None
    rest = read_page(big, Query(pattern="*nothing*", after=page.next_after), clock(), 60.0)
    assert rest.items == () and not rest.partial and rest.next_after is None
