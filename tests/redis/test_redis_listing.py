"""A walk through a Redis schedule page by page (``list``, ``export``): the names are read and
sorted once per walk, so each next page is one round trip, not a read of every name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from beatcore import Entry, Interval
from beatcore.cli.reading import schedule_pages
from beatcore.testing import FakeClock
from beatcore.testing.contract import T0
from beatcore_redis.listing import WALK_SECONDS, NameWalk, page_names
from beatcore_redis.store import RedisStore, open_store
from tests.redis.counting import RoundTrips, counting_client


@pytest.fixture
def counted(redis_server: Any) -> Iterator[tuple[RedisStore, RoundTrips]]:
    """A store whose client counts its round trips, holding 2,500 entries."""
    client, trips = counting_client(redis_server.host, redis_server.port)
    prefix = f"listing-{uuid.uuid4().hex[:12]}:"
    store = open_store(
        redis_server.url, {"client": client, "clock": FakeClock(T0), "key_prefix": prefix}
    )
    store.save_many(
        Entry(name=f"job-{i:04d}", task="t", schedule=Interval(60)) for i in range(2_500)
    )
    yield store, trips
    keys = client.keys(store.keys.base.replace("{", "[{]") + "*")
    if keys:
        client.delete(*keys)
    store.close()


def test_a_walk_reads_the_names_once(counted: tuple[RedisStore, RoundTrips]) -> None:
    """Three pages of 1,000: 2 round trips for the first (names, page), 1 for each next
    one, none for the empty page that ends the walk; every entry once, in name order."""
    store, trips = counted
    trips.reset()
    names = [record[0].name for page in schedule_pages(store) for record in page]  # type: ignore[index]
    assert names == [f"job-{i:04d}" for i in range(2_500)]
    assert trips.count == 4
    assert sum(command.count(b"HKEYS") for command in trips.commands) == 1


def test_a_page_that_does_not_continue_the_walk_reads_the_names(
    counted: tuple[RedisStore, RoundTrips],
) -> None:
    """A page after another name than the last one returned (the web dashboard's cursor, a
    new walk) reads the names again: an entry added since is listed."""
    store, trips = counted
    assert len(store.entries_page(None, 10)) == 10
    store.save(Entry(name="job-0000a", task="t", schedule=Interval(60)))
    trips.reset()
    page = store.entries_page("job-0000", 2)
    assert [record[0].name for record in page] == ["job-0000a", "job-0001"]  # type: ignore[index]
    assert trips.count == 2
    descending = store.entries_page("job-0003", 2, descending=True)
    assert [record[0].name for record in descending] == ["job-0002", "job-0001"]  # type: ignore[index]


def test_a_walk_paused_too_long_reads_the_names_again() -> None:
    now = [0.0]
    walk = NameWalk(clock=lambda: now[0])
    reads: list[int] = []

    def read() -> list[str]:
        reads.append(1)
        return ["c", "a", "b", "a"]

    assert walk.names(None, False, read) == ["a", "b", "c"]
    walk.returned("a", False)
    now[0] = WALK_SECONDS / 2
    walk.names("a", False, read)
    walk.returned("b", False)
    assert len(reads) == 1
    now[0] += WALK_SECONDS + 1
    walk.names("b", False, read)
    assert len(reads) == 2
    walk.returned(None, False)
    walk.names("b", False, read)
    assert len(reads) == 3


def test_page_names_in_both_directions() -> None:
    names = ["a", "b", "c", "d"]
    assert page_names(names, None, 2, descending=False) == ["a", "b"]
    assert page_names(names, "b", 5, descending=False) == ["c", "d"]
    assert page_names(names, "bb", 1, descending=False) == ["c"]
    assert page_names(names, None, 3, descending=True) == ["d", "c", "b"]
    assert page_names(names, "c", 5, descending=True) == ["b", "a"]
    assert page_names(names, "a", 5, descending=True) == []
