"""A walk through a Redis schedule page by page (``list``, ``export``): the names are read and
sorted once per walk, so each next page is one round trip, not a read of every name."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from beatcore import Entry, Interval
from beatcore.cli import reading
from beatcore.cli.reading import schedule_pages
from beatcore.errors import CorruptRecord
from beatcore_redis import listing
from beatcore_redis.listing import WALK_SECONDS, NameWalk, page_names
from beatcore_redis.store import RedisStore
from tests.redis.counting import RoundTrips, command_calls, counted_store


@pytest.fixture
def counted(redis_server: Any) -> Iterator[tuple[RedisStore, RoundTrips]]:
    """A store whose client counts its round trips, holding 2,500 entries."""
    for store, trips in counted_store(redis_server, "listing"):
        store.save_many(
            Entry(name=f"job-{i:04d}", task="t", schedule=Interval(60)) for i in range(2_500)
        )
        yield store, trips


def scans(admin: Any, run: Any) -> dict[str, int]:
    """Return the HSCAN and HKEYS commands the server ran during ``run()``."""
    before = command_calls(admin)
    run()
    after = command_calls(admin)
    return {name: after.get(name, 0) - before.get(name, 0) for name in ("hscan", "hkeys")}


def test_a_walk_reads_the_names_once(
    counted: tuple[RedisStore, RoundTrips], redis_server: Any
) -> None:
    """Three pages of 1,000: 2 round trips for the first (names, page), 1 for each next
    one, none for the empty page that ends the walk; every entry once, in name order."""
    store, trips = counted
    admin = redis_server.client()
    store.entries_page(None, 1)  # loads the names script into a fresh server's cache
    trips.reset()
    walked: list[str] = []
    read = scans(admin, lambda: walked.extend(
        reading.record_name(record) for page in schedule_pages(store) for record in page
    ))  # fmt: skip
    assert walked == [f"job-{i:04d}" for i in range(2_500)]
    assert trips.count == 4
    assert read == {"hscan": 1, "hkeys": 1}  # the definitions' names, the notes' names
    admin.close()


def test_a_large_walk_holds_a_bounded_number_of_names(
    counted: tuple[RedisStore, RoundTrips], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MEMORY_NAMES the walk's names wait sorted in runs in temporary files, merged as
    the walk goes: every name once (a noted unreadable one too), in order, with one HSCAN
    round trip per SCAN_COUNT names and one per page."""
    store, trips = counted
    monkeypatch.setattr(listing, "MEMORY_NAMES", 300)
    monkeypatch.setattr(listing, "SCAN_COUNT", 100)
    spilled: list[int] = []
    spill = listing._spill

    def counted_spill(names: list[bytes]) -> Any:
        spilled.append(len(names))
        return spill(names)

    monkeypatch.setattr(listing, "_spill", counted_spill)
    store.client.hset(store.keys.corrupt, "job-0007", "noted")
    store.client.hset(store.keys.corrupt, "job-9999", "noted, no definition")
    trips.reset()
    pages = list(schedule_pages(store, 700))
    names = [reading.record_name(record) for page in pages for record in page]
    assert names == [f"job-{i:04d}" for i in range(2_500)] + ["job-9999"]
    assert len(spilled) >= 5 and max(spilled) < 300 + 100 * 2
    assert isinstance(pages[0][7], CorruptRecord)
    assert trips.count >= 2_500 // 100 + len(pages)


def test_a_page_that_does_not_continue_the_walk_reads_the_names(
    counted: tuple[RedisStore, RoundTrips],
) -> None:
    """A page after a name outside the walk's last page (a new walk) reads the names again:
    an entry added since is listed. One after a name of that page continues the walk (names
    at most WALK_SECONDS old)."""
    store, trips = counted
    assert len(store.entries_page(None, 10)) == 10
    store.save(Entry(name="job-0020a", task="t", schedule=Interval(60)))
    trips.reset()
    page = store.entries_page("job-0020", 2)
    assert [record[0].name for record in page] == ["job-0020a", "job-0021"]  # type: ignore[index]
    assert trips.count == 2
    trips.reset()
    page = store.entries_page("job-0020a", 2)
    assert [record[0].name for record in page] == ["job-0021", "job-0022"]  # type: ignore[index]
    assert trips.count == 1
    descending = store.entries_page("job-0003", 2, descending=True)
    assert [record[0].name for record in descending] == ["job-0002", "job-0001"]  # type: ignore[index]


class Names:
    """The names a walk reads, counting each read (a new walk)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.reads: list[str | None] = []

    def after(self, after: str | None) -> Any:
        def read() -> Iterator[str]:
            self.reads.append(after)
            return iter([n for n in self.names if after is None or n > after])

        return read


def test_a_walk_continues_only_after_a_name_of_its_last_page_and_not_too_late() -> None:
    now = [0.0]
    walk = NameWalk(clock=lambda: now[0])
    source = Names(["a", "b", "c"])
    assert walk.page(None, 2, source.after(None)) == ["a", "b"]
    assert not walk.continues("0") and not walk.continues(None) and not walk.continues("c")
    assert walk.continues("a") and walk.continues("b")
    assert walk.page("b", 2, source.after("b")) == ["c"] and source.reads == [None]
    assert walk.page("c", 2, source.after("c")) == [] and source.reads == [None]  # its end
    assert not walk.continues("c")
    assert walk.page("c", 2, source.after("c")) == [] and source.reads == [None, "c"]
    assert walk.page(None, 2, source.after(None)) == ["a", "b"]
    now[0] = WALK_SECONDS + 1
    assert not walk.continues("b")  # lapsed
    assert walk.page("b", 2, source.after("b")) == ["c"] and source.reads == [None, "c", None, "b"]


def test_readers_paging_together_each_continue_their_own_walk() -> None:
    """Up to WALKS readers page through one store at once without restarting each other's
    walks (each next page reads no names); one more drops the oldest walk."""
    walk = NameWalk(clock=lambda: 0.0)
    source = Names([f"n{i:03d}" for i in range(100)])
    lasts: list[str | None] = [None, "n009", "n019", "n029"]
    for _ in range(3):
        for reader, after in enumerate(lasts):
            page = walk.page(after, 2, source.after(after))
            assert page[0] > (after or "")
            lasts[reader] = page[-1]
    assert source.reads == [None, "n009", "n019", "n029"]
    walk.page("n039", 2, source.after("n039"))  # a fifth reader
    assert not walk.continues(lasts[0]) and all(walk.continues(last) for last in lasts[1:])


def test_a_page_after_a_lapsed_walk_starts_a_new_walk_after_it(
    counted: tuple[RedisStore, RoundTrips],
) -> None:
    """A page whose walk lapsed (a slow reader) reads the names again once, from after its
    name, and the pages after it continue that walk (one round trip each)."""
    store, trips = counted
    assert len(store.entries_page(None, 1_000)) == 1_000
    store._walk = NameWalk(clock=lambda: 1e9)  # the walk lapsed
    trips.reset()
    page = store.entries_page("job-0999", 1_000)
    assert reading.record_name(page[0]) == "job-1000" and trips.count == 2
    trips.reset()
    assert reading.record_name(store.entries_page("job-1999", 1_000)[0]) == "job-2000"
    assert trips.count == 1


def test_page_names_in_both_directions() -> None:
    names = ["a", "b", "c", "d"]
    assert page_names(names, None, 2, descending=False) == ["a", "b"]
    assert page_names(names, "b", 5, descending=False) == ["c", "d"]
    assert page_names(names, "bb", 1, descending=False) == ["c"]
    assert page_names(names, None, 3, descending=True) == ["d", "c", "b"]
    assert page_names(names, "c", 5, descending=True) == ["b", "a"]
    assert page_names(names, "a", 5, descending=True) == []


def test_threads_paging_at_once_each_get_their_own_pages() -> None:
    """Two walks taken at once through one store's walk (the web dashboard's requests): each
    page is the one its caller asked for, never a cut from the other caller's walk."""
    walk = NameWalk()
    names = [f"n{i:04d}" for i in range(2000)]
    errors: list[str] = []

    def walk_all(start: int) -> None:
        after: str | None = names[start - 1] if start else None
        while True:
            page = walk.page(
                after, 7, lambda a=after: iter([n for n in names if a is None or n > a])
            )
            if not page:
                return
            wanted = [n for n in names if after is None or n > after][:7]
            if page != wanted:
                errors.append(f"after {after}: {page[:2]} instead of {wanted[:2]}")
                return
            after = page[-1]

    threads = [threading.Thread(target=walk_all, args=(start,)) for start in (0, 500, 1000, 1500)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_page_is_full_when_names_went_away_since_the_walk_read_them(
    counted: tuple[RedisStore, RoundTrips],
) -> None:
    """Entries deleted after a walk's first page: the next page still holds ``limit``
    records (topped up from the names after them), so a caller that takes a short page for
    the end (the web dashboard) misses nothing; both directions."""
    store, _ = counted
    first = store.entries_page(None, 100)
    assert len(first) == 100
    for i in range(100, 110):
        store.delete(f"job-{i:04d}")
    second = store.entries_page("job-0099", 100)
    assert [reading.record_name(r) for r in second] == [f"job-{i:04d}" for i in range(110, 210)]
    backwards = store.entries_page("job-0210", 100, descending=True)
    wanted = [f"job-{i:04d}" for i in range(209, 109, -1)]
    assert [reading.record_name(r) for r in backwards] == wanted
    last = store.entries_page("job-2449", 100)
    assert [reading.record_name(r) for r in last] == [f"job-{i:04d}" for i in range(2450, 2500)]


def test_a_reader_that_reads_a_name_ahead_continues_its_walk() -> None:
    """The web dashboard reads ``limit + 1`` names to know whether a next page exists and
    asks for the next page after the ``limit``-th: that continues the walk (no new read),
    from the right name."""
    walk = NameWalk(clock=lambda: 0.0)
    source = Names([f"n{i:03d}" for i in range(10)])
    assert walk.page(None, 4, source.after(None)) == ["n000", "n001", "n002", "n003"]
    assert walk.continues("n002") and walk.continues("n0025") and not walk.continues("m")
    assert walk.page("n002", 4, source.after("n002")) == ["n003", "n004", "n005", "n006"]
    assert walk.page("n005", 4, source.after("n005")) == ["n006", "n007", "n008", "n009"]
    assert source.reads == [None]
    assert walk.page("n001", 2, source.after("n001")) == ["n002", "n003"]  # before its page
    assert source.reads == [None, "n001"]


def test_a_read_ahead_walk_stays_flat_over_many_pages() -> None:
    """Page after page continued from inside the last page (the dashboard's pattern): every
    name once, in order, one read, and the walk's own state never deeper than a page."""
    walk = NameWalk(clock=lambda: 0.0)
    source = Names([f"n{i:05d}" for i in range(20_000)])
    seen: list[str] = []
    after: str | None = None
    while True:
        page = walk.page(after, 6, source.after(after))
        if len(page) < 6:
            seen += page
            break
        seen += page[:5]
        after = page[4]  # the fifth shown, the sixth only read ahead
        assert all(len(w.ahead) <= 6 for w in walk._walks.values())
    assert seen == source.names and source.reads == [None]
