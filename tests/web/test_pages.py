"""The pages: escaping, CSRF, the form's errors beside their fields, read-only pages."""

from __future__ import annotations

import re
import sys
from typing import Any

import attrs
from starlette.testclient import TestClient

from beatcore.entry import Entry
from beatcore.plugins import get_plugins
from beatcore.schedules import Interval
from beatcore.stores.sqlite import SqliteStore
from beatcore.testing import plant_sqlite_record
from beatcore_web.pages import entry_path

from .conftest import START

XSS = "<script>alert(1)</script>"


def csrf(client: TestClient, path: str = "/new") -> str:
    """Open ``path`` (setting the CSRF cookie) and return the token its forms carry."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def cron_form(
    token: str, name: str = "nightly", minute: str = "30", **extra: str
) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": name,
        "task": "proj.report",
        "schedule.type": "crontab",
        "schedule.crontab.minute": minute,
        "schedule.crontab.hour": "2",
        "schedule.crontab.day_of_month": "*",
        "schedule.crontab.month_of_year": "*",
        "schedule.crontab.day_of_week": "*",
        "enabled": "on",
        "catch_up": "latest",
        **extra,
    }


def test_names_and_fields_are_escaped(client: TestClient, store: SqliteStore) -> None:
    """An entry named <script>alert(1)</script> shows as text on every page."""
    store.save(Entry(XSS, "proj.report", Interval(60), description=f"{XSS} & more"))
    for path in ("/", entry_path(XSS), entry_path(XSS, "/edit"), entry_path(XSS, "/delete")):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert XSS not in page.text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, path
    api = client.get("/api/entries").json()
    assert api["entries"][0]["name"] == XSS  # JSON, served as application/json


def test_forms_need_the_csrf_token(client: TestClient, store: SqliteStore) -> None:
    token = csrf(client)
    other = TestClient(client.app, base_url="http://127.0.0.1")  # no cookie
    refused = other.post("/new", data=cron_form(token), follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = client.post("/new", data=cron_form("x" * 43), follow_redirects=False)
    assert wrong.status_code == 403
    missing = client.post("/new", data={**cron_form(token), "csrf_token": ""})
    assert missing.status_code == 403
    assert store.entries() == []
    store.save(Entry("report", "proj.report", Interval(60)))
    for action in ("disable", "enable", "trigger", "delete"):
        response = client.post(entry_path("report", f"/{action}"), data={"csrf_token": "bad"})
        assert response.status_code == 403, action
    assert store.get("report").enabled and store.state("report").triggered_at is None


def test_add_edit_and_delete_through_the_forms(client: TestClient, store: SqliteStore) -> None:
    token = csrf(client)
    added = client.post("/new", data=cron_form(token), follow_redirects=False)
    assert added.status_code == 303, added.text
    assert added.headers["location"] == "/entries/nightly?done=added"
    assert store.get("nightly").schedule.to_dict()["minute"] == "30"
    page = client.get("/entries/nightly?done=added").text
    assert "Entry added." in page and "02:30" in page
    edit = client.get("/entries/nightly/edit").text
    assert 'name="schedule.crontab.minute" value="30"' in edit
    saved = client.post(
        "/entries/nightly/edit", data=cron_form(token, minute="45"), follow_redirects=False
    )
    assert saved.status_code == 303
    assert store.get("nightly").schedule.to_dict()["minute"] == "45"
    disabled = client.post(
        "/entries/nightly/disable",
        data={"csrf_token": token, "reason": "holiday"},
        follow_redirects=False,
    )
    assert disabled.status_code == 303 and not store.get("nightly").enabled
    assert (
        client.post(
            "/entries/nightly/delete", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    assert store.entries() == []


def test_a_bad_field_is_shown_beside_it(client: TestClient, store: SqliteStore) -> None:
    token = csrf(client)
    page = client.post("/new", data=cron_form(token, minute="61", jitter="-3"))
    assert page.status_code == 422
    error = re.search(r'id="error-schedule.crontab.minute">([^<]+)<', page.text)
    assert error and "61" in error.group(1), page.text
    assert 'value="61"' in page.text  # what was typed is kept
    assert store.entries() == []
    task = client.post("/new", data=cron_form(token, task="not a task"))
    assert re.search(r'id="error-task">[^<]*not a task name', task.text), task.text
    interval = client.post(
        "/new",
        data={**cron_form(token), "schedule.type": "interval", "schedule.interval.every": "0"},
    )
    assert interval.status_code == 422 and 'class="error"' in interval.text


def test_every_schedule_type_has_its_fields(client: TestClient) -> None:
    page = client.get("/new").text
    for field in (
        "schedule.interval.every",
        "schedule.crontab.day_of_week",
        "schedule.solar.event",
        "schedule.clocked.at",
        "schedule.rrule.rule",
    ):
        assert f'name="{field}"' in page, field
    token = csrf(client)
    rrule = client.post(
        "/new",
        data={
            **cron_form(token, name="weekly"),
            "schedule.type": "rrule",
            "schedule.rrule.rule": "FREQ=WEEKLY;BYDAY=MO",
        },
        follow_redirects=False,
    )
    assert rrule.status_code == 303, rrule.text


def test_static_entry_page_says_beat_schedule_owns_it(
    client: TestClient, store: SqliteStore
) -> None:
    store.sync_static([Entry("static-one", "proj.report", Interval(60), static=True)])
    page = client.get("/entries/static-one").text
    assert 'id="static-note"' in page and "beat_schedule" in page
    assert 'id="edit"' not in page and 'id="delete"' not in page
    assert client.get("/entries/static-one/edit").status_code == 409


def test_read_only_pages_hide_the_changes(make_client: Any, store: SqliteStore) -> None:
    store.save(Entry("report", "proj.report", Interval(60)))
    client = make_client(read_only=True)
    page = client.get("/entries/report").text
    for hidden in ('id="disable"', 'id="trigger"', 'id="edit"', 'id="delete"', 'id="nav-add"'):
        assert hidden not in page, hidden
    assert 'id="read-only"' in page
    assert client.get("/new").status_code == 403
    client.cookies.set("beatcore_csrf", "a-valid-pair")
    refused = client.post("/entries/report/disable", data={"csrf_token": "a-valid-pair"})
    assert refused.status_code == 403 and "read-only" in refused.text
    assert store.get("report").enabled


def test_health_page(client: TestClient) -> None:
    page = client.get("/health")
    assert page.status_code == 200
    assert 'id="verdict"' in page.text and "no beat has ever ticked" in page.text


def test_health_shows_the_url_with_its_password_masked(
    client: TestClient, store: SqliteStore, monkeypatch: Any
) -> None:
    real = store.status()
    masked = attrs.evolve(real, url="redis://:hunter2@redis.internal:6379/0")
    monkeypatch.setattr(store, "status", lambda: masked)
    for path in ("/health", "/api/health"):
        page = client.get(path).text
        assert "hunter2" not in page and "redis://:****@redis.internal:6379/0" in page, path


def test_unreadable_records_are_listed_with_why(client: TestClient, store: SqliteStore) -> None:
    store.save(Entry("good", "proj.report", Interval(60)))
    plant_sqlite_record(store, "bad<b>", "{not json", "{}", START)
    page = client.get("/").text
    assert "UNREADABLE" in page and "bad&lt;b&gt;" in page and "bad<b>" not in page
    listed = client.get("/api/entries").json()["entries"]
    assert [(item["name"], item["readable"]) for item in listed] == [
        ("bad<b>", False),
        ("good", True),
    ]
    assert client.get("/api/entries?state=unreadable").json()["entries"][0]["error"]
    assert client.get("/entries/bad%3Cb%3E").status_code == 409


def test_the_page_says_who_disabled_it_and_why(client: TestClient, store: SqliteStore) -> None:
    store.save(Entry("report", "proj.report", Interval(60)))
    token = csrf(client, "/entries/report")
    page = client.post("/entries/report/disable", data={"csrf_token": token, "reason": XSS})
    assert page.status_code == 200 and "Entry disabled." in page.text
    note = re.search(r'id="disabled-by">([^<]*)<', page.text)
    assert note and "by web@" in note.group(1), page.text
    assert "&lt;script&gt;" in page.text and XSS not in page.text
    assert 'id="changes"' in page.text


def test_an_operations_warning_is_shown_once(store: SqliteStore, clock: Any) -> None:
    from celery import Celery

    from beatcore_web import create_app

    app = create_app(store, clock=clock, celery_app=Celery("known", set_as_current=False))
    client = TestClient(app, base_url="http://127.0.0.1")
    token = csrf(client)
    page = client.post("/new", data=cron_form(token, task="proj.unknown"))
    assert page.status_code == 200 and "Entry added." in page.text
    assert 'class="note"' in page.text and "proj.unknown" in page.text
    assert "proj.unknown" not in client.get("/").text.split("<main>")[1].split("<table")[0]


def test_a_type_without_field_names_takes_its_fields_as_json(
    client: TestClient, store: SqliteStore
) -> None:
    """A third party's schedule type that names no fields: one JSON field in the form."""
    from tests.core.test_cli_any_schedule import THIRD_PARTY

    sys.path.insert(0, str(THIRD_PARTY))
    import beatcore_weekly_example

    plugins = get_plugins()
    plugins.register(beatcore_weekly_example)
    try:
        kind = "example.every_nth_second"
        assert f'name="schedule.{kind}.json"' in client.get("/new").text
        token = csrf(client)
        form = {**cron_form(token, name="nth"), "schedule.type": kind}
        bad = client.post("/new", data={**form, f"schedule.{kind}.json": "[1]"})
        assert bad.status_code == 422 and f'id="error-schedule.{kind}.json"' in bad.text
        refused = client.post("/new", data={**form, f"schedule.{kind}.json": '{"n": 0}'})
        assert refused.status_code == 422 and "n must be &gt;= 1" in refused.text
        added = client.post(
            "/new", data={**form, f"schedule.{kind}.json": '{"n": 7}'}, follow_redirects=False
        )
        assert added.status_code == 303, added.text
        assert store.get("nth").schedule.to_dict() == {"n": 7}
        edit = client.get("/entries/nth/edit").text
        assert "{&#34;n&#34;: 7}" in edit or "{&quot;n&quot;: 7}" in edit, edit
    finally:
        plugins.unregister(beatcore_weekly_example)
        sys.path.remove(str(THIRD_PARTY))
