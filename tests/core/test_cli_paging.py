"""``list``, ``export`` and ``status`` read the schedule a page at a time (never the whole
schedule at once) and print the same documents as before: counts of the pages asked for, the
exact JSON text, the table's alignment across pages."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from beatcore import Crontab, Entry, Interval
from beatcore.cli import reading
from beatcore.cli.describe import PagedTable, table
from beatcore.errors import CorruptRecord, StoreUnavailable
from beatcore.store import Store
from beatcore.stores.memory import MemoryStore
from beatcore.stores.sqlite.store import SqliteStore
from beatcore.testing import plant_memory_record
from tests.core.cli_app import START, Cli, app

PAGE = 3


@pytest.fixture
def pages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, int]]:
    """Pages of :data:`PAGE` records; each ``entries_page`` call's ``after`` and ``limit``."""
    monkeypatch.setattr(reading, "PAGE_SIZE", PAGE)
    calls: list[tuple[str | None, int]] = []
    for cls in (MemoryStore, SqliteStore):
        original = cls.entries_page

        def counted(self: Any, after: Any = None, limit: int = 100, *, _o: Any = original,
                    **kw: Any) -> Any:  # fmt: skip
            calls.append((after, limit))
            return _o(self, after, limit, **kw)

        monkeypatch.setattr(cls, "entries_page", counted)
    return calls


def fill(store: Store, count: int, **fields: Any) -> list[str]:
    names = [f"job-{i:02d}" for i in range(count)]
    store.save_many(Entry(name=n, task="proj.hello", schedule=Interval(60), **fields)
                    for n in names)  # fmt: skip
    return names


def test_export_is_written_page_by_page_as_one_json_document(
    cli: Cli, pages: list[tuple[str | None, int]], tmp_path: Path
) -> None:
    """export asks for pages of PAGE_SIZE after the last name of the one before (three
    pages and the empty one that ends the walk for 7 entries) and writes the very text of one
    json.dumps of the whole document, which imports into another store."""
    names = fill(cli.store(), 7)
    out = cli.ok("export")
    assert pages == [(None, PAGE), ("job-02", PAGE), ("job-05", PAGE), ("job-06", PAGE)]
    document = json.loads(out)
    assert out == json.dumps(document, indent=2, sort_keys=True) + "\n"
    assert [record["entry"]["name"] for record in document["entries"]] == names
    path = tmp_path / "export.json"
    assert cli("export", "--output", str(path)).exit_code == 0
    assert json.loads(path.read_text()) == document
    app.conf.beatcore_url = f"memory://paging-{uuid.uuid4()}"
    target = Cli(app.conf.beatcore_url)
    assert target.ok("import", str(path)).splitlines()[-1] == "7 entries changed"
    assert [entry.name for entry in target.store().entries()] == names


def test_an_empty_export_is_the_same_document(cli: Cli, pages: list[Any]) -> None:
    out = cli.ok("export")
    assert out == json.dumps(json.loads(out), indent=2, sort_keys=True) + "\n"
    assert '"entries": [],' in out
    assert pages == [(None, PAGE)]


def test_list_json_streams_the_same_sorted_list(cli: Cli, pages: list[Any]) -> None:
    """list --json: one JSON list in name order across pages, unreadable records in place,
    the text of one json.dumps; a filter still asks for every page."""
    fill(cli.store(), 5)
    out = cli.ok("list", "--json")
    listed = json.loads(out)
    assert out == json.dumps(listed, indent=2, sort_keys=True) + "\n"
    assert [item["name"] for item in listed] == [f"job-{i:02d}" for i in range(5)]
    assert len(pages) == 3
    assert json.loads(cli.ok("list", "--json", "job-04")) == [listed[-1]]
    assert json.loads(cli.ok("list", "--json", "nothing-*")) == []


def test_list_table_over_pages_keeps_its_columns_aligned(cli: Cli, pages: list[Any]) -> None:
    """More than one page: the header once, every row, and each column starting where the
    header's does or further right, never left (a column widens from the page that needs it;
    the DESCRIPTION column is there)."""
    store = cli.store()
    fill(store, 4)
    store.save(Entry(name="job-99-with-a-much-longer-name", task="proj.hello",
                     schedule=Interval(60), description="the longest"))  # fmt: skip
    lines = cli.ok("list").splitlines()
    assert len(pages) == 3
    assert lines[0].split() == ["NAME", "SCHEDULE", "NEXT", "RUN", "LAST", "RUN", "LAST",
                                "OUTCOME", "RUNS", "ENABLED", "KIND", "LAST", "ERROR",
                                "DESCRIPTION"]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == [
        "job-00", "job-01", "job-02", "job-03", "job-99-with-a-much-longer-name"
    ]  # fmt: skip
    schedule_at = lines[0].index("SCHEDULE")
    assert all(line.index("every") >= schedule_at for line in lines[1:])
    assert lines[1].index("every") == schedule_at
    assert lines[-1].index("every") > schedule_at
    assert lines[-1].rstrip().endswith("the longest") and lines[1].rstrip().endswith("-")


def test_list_of_one_page_is_the_table_as_before(cli: Cli, pages: list[Any]) -> None:
    fill(cli.store(), 2)
    lines = cli.ok("list").splitlines()
    assert "DESCRIPTION" not in lines[0] and len(lines) == 3
    assert pages == [(None, PAGE), ("job-01", PAGE)]  # the page, the empty one ending it
    assert cli.ok("list", "nothing-*").strip() == "no entries"


def test_paged_table_of_one_page_is_table() -> None:
    rows = [["a", "x", ""], ["bbbb", "yy", ""]]
    headers = ("N", "V", "D")
    assert list(PagedTable(headers, optional_last=True).lines([rows])) == table(
        ["N", "V"], [["a", "x"], ["bbbb", "yy"]]
    ).split("\n")
    assert list(PagedTable(headers).lines([])) == []
    grown = list(PagedTable(headers, optional_last=True).lines([[["a", "x", ""]], rows]))
    assert grown == ["N  V  D", "a  x  -", "a     x   -", "bbbb  yy  -"]


def test_status_walks_pages_for_unreadable_records(
    cli: Cli, pages: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past NAME_LOOKUP_LIMIT with unreadable records noted, status finds them all and the
    names due next by walking pages, not by reading the whole schedule at once."""
    from beatcore.cli import health

    if not cli.url.startswith("memory://"):
        pytest.skip("plants a raw record in the memory store")
    monkeypatch.setattr(health, "NAME_LOOKUP_LIMIT", 2)
    fill(cli.store(), 5)
    store = cli.store()
    assert isinstance(store, MemoryStore)
    plant_memory_record(store, "broken", "{not json", "{}", START + timedelta(days=1))
    data = json.loads(cli("status", "--json").output)
    assert [item["name"] for item in data["unreadable"]] == ["broken"]
    assert data["next_due_names"] == [f"job-{i:02d}" for i in range(5)]
    assert all(limit == PAGE for _, limit in pages) and len(pages) == 3


def test_a_store_that_does_not_page_is_an_error_not_a_loop() -> None:
    class Stuck(MemoryStore):
        def entries_page(self, *args: Any, **kwargs: Any) -> list[Any]:
            return [CorruptRecord("same", "x")]

    store = Stuck(f"memory://stuck-{uuid.uuid4()}")
    with pytest.raises(Exception, match="does not page"):
        list(reading.schedule_pages(store, 1))


def test_a_failed_export_leaves_the_earlier_file_as_it_was(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``export --output`` puts the file in place only once it is whole: a store outage on
    its second page leaves last night's export, and no temporary file beside it."""
    fill(cli.store(), 7)
    path = tmp_path / "backup.json"
    assert cli("export", "--output", str(path)).exit_code == 0
    good = path.read_text()
    assert len(json.loads(good)["entries"]) == 7
    monkeypatch.setattr(reading, "PAGE_SIZE", 3)
    kind = type(cli.store())
    original = kind.entries_page

    def failing_on_page_two(self: Any, after: Any = None, limit: int = 100, **kw: Any) -> Any:
        if after is not None:
            raise StoreUnavailable("the store went away on page two")
        return original(self, after, limit, **kw)

    monkeypatch.setattr(kind, "entries_page", failing_on_page_two)
    result = cli("export", "--output", str(path))
    assert result.exit_code != 0
    assert "went away on page two" in result.output
    assert path.read_text() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_list_words_are_made_once_per_distinct_schedule_and_instant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``list``'s schedule-in-words and next-run cells come from one listing's memo: entries
    sharing a schedule and a due instant are described once, others each; bounded."""
    from datetime import datetime, timezone

    from beatcore.cli import reports
    from beatcore.timeutil import UTC

    made: list[str] = []
    original = reports.describe_schedule

    def counted(entry: Entry, default_tz: str) -> str:
        made.append(entry.name)
        return original(entry, default_tz)

    monkeypatch.setattr(reports, "describe_schedule", counted)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    words = reports.RowWords("UTC", now)
    hour = Interval(timedelta(hours=1))  # one object, as a store's template decodes them
    hourly = [Entry(name=f"h{i}", task="t", schedule=hour) for i in range(3)]
    daily = Entry(name="d", task="t", schedule=Interval(timedelta(days=1)))
    texts = [words.schedule(entry) for entry in (*hourly, daily)]
    assert texts == ["every hour"] * 3 + ["every day"]
    assert made == ["h0", "d"]
    zero, zeros = Crontab(minute="0"), Crontab(minute="00")
    assert zero == zeros  # equal, spelt apart: each entry shows its own spelling
    spelt = [Entry(name="z", task="t", schedule=zero), Entry(name="zz", task="t", schedule=zeros)]
    assert [words.schedule(e) for e in spelt] == ["cron '0 * * * *', UTC", "cron '00 * * * *', UTC"]
    del made[:]
    due = now + timedelta(minutes=5)
    assert words.instant(due, UTC) == words.instant(due, UTC) == reports.when(due, UTC, now)
    monkeypatch.setattr(reports.RowWords, "LIMIT", 1)
    small = reports.RowWords("UTC", now)
    assert [small.schedule(e) for e in (daily, *hourly)] == ["every day"] + ["every hour"] * 3
    assert made == ["d", "h0", "h1", "h2"]
