"""The JSON API: every operation, every refusal, status codes and error bodies."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.stores.sqlite import SqliteStore
from beatcore.testing import FakeClock

from .conftest import START, cron, definition


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == status
    return error


def test_create_get_list_edit_delete(client: TestClient, store: SqliteStore) -> None:
    """Each operation answers with the entry as stored, and the store has it."""
    created = client.post("/api/entries", json=definition(description="daily"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "report" and body["schedule"]["minute"] == "*/5"
    assert body["schedule_text"].startswith("every 5 minutes") or body["schedule_text"]
    assert body["next_runs"][0]["due_at"] == (START + timedelta(minutes=5)).isoformat()
    assert store.get("report").description == "daily"

    listed = client.get("/api/entries").json()
    assert [item["name"] for item in listed["entries"]] == ["report"]
    assert listed["next_after"] is None

    edited = client.patch("/api/entries/report", json={"schedule": cron("0", hour="3")})
    assert edited.status_code == 200, edited.text
    assert store.get("report").schedule.to_dict()["hour"] == "3"
    assert store.get("report").description == "daily"  # fields left out are kept

    assert client.get("/api/entries/report").json()["schedule"]["minute"] == "0"
    deleted = client.delete("/api/entries/report")
    assert deleted.json() == {"deleted": "report", "warnings": []}
    assert store.entries() == []
    error_of(client.get("/api/entries/report"), 404)


def test_enable_disable_trigger(client: TestClient, store: SqliteStore) -> None:
    client.post("/api/entries", json=definition())
    disabled = client.post("/api/entries/report/disable", json={"reason": "maintenance"})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False
    assert store.get("report").enabled is False
    assert client.post("/api/entries/report/enable", json={}).json()["enabled"] is True
    triggered = client.post("/api/entries/report/trigger", json={})
    assert triggered.status_code == 200
    assert store.state("report").triggered_at == START
    error_of(client.post("/api/entries/report/explode", json={}), 404)
    error_of(client.post("/api/entries/nope/trigger", json={}), 404)
    error_of(client.post("/api/entries/report/disable", json={"reason": 5}), 422)


def test_history_and_schedule_types(client: TestClient, store: SqliteStore) -> None:
    client.post("/api/entries", json=definition())
    assert client.get("/api/entries/report/history").json() == {"name": "report", "runs": []}
    types = client.get("/api/schedule-types").json()
    assert types["crontab"]["fields"][:2] == ["minute", "hour"]
    assert types["interval"]["fields"][0] == "every"
    assert types["rrule"]["fields"][0] == "rule"  # a plugin's type, from its own fields


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (definition(schedule=cron("99")), "schedule.minute"),
        (definition(schedule={"type": "nope"}), "schedule.type"),
        (definition(schedule={"minute": "1"}), "schedule.type"),
        (definition(schedule={"type": "interval", "every": -5}), "schedule"),
        (definition(task="not a task!"), "task"),
        (definition(jitter=-1), "jitter"),
        (definition(catch_up="sometimes"), "catch_up"),
        (definition(tz="Mars/Olympus"), "tz"),
        (definition(args={"a": 1}), "args"),
        (definition(options={"priority": "high"}), "options"),
        (definition(start_at="yesterday"), "start_at"),
        (definition(colour="red"), "colour"),
        ({"task": "proj.report", "schedule": cron()}, "name"),
        (definition(name=""), "name"),
    ],
)
def test_bad_definitions_name_the_field(client: TestClient, body: Any, field: str) -> None:
    error = error_of(client.post("/api/entries", json=body), 422)
    assert field in error["fields"], error
    assert error["fields"][field]


def test_bad_requests(client: TestClient) -> None:
    client.post("/api/entries", json=definition())
    error_of(client.post("/api/entries", json=definition()), 409)
    error_of(client.post("/api/entries", content=b"{nope", headers=_json), 400)
    error_of(client.post("/api/entries", content=b"[1]", headers=_json), 400)
    error_of(client.post("/api/entries", data={"name": "x"}), 415)
    error_of(client.post("/api/entries", content=b" " * 1_000_001, headers=_json), 413)
    error_of(client.post("/api/entries/report/trigger"), 415)
    error_of(client.patch("/api/entries/report", json={"name": "other"}), 422)
    error_of(client.get("/api/entries?state=sleepy"), 400)
    error_of(client.get("/api/entries?limit=0"), 400)
    error_of(client.get("/api/entries?limit=x"), 400)
    error_of(client.get("/api/entries?order=up"), 400)
    error_of(client.patch("/api/entries/nope", json={}), 404)


_json = {"content-type": "application/json"}


def test_static_entries_belong_to_beat_schedule(client: TestClient, store: SqliteStore) -> None:
    store.sync_static([Entry("static-one", "proj.report", Interval(60), static=True)])
    error = error_of(client.patch("/api/entries/static-one", json={"jitter": 1}), 409)
    assert "beat_schedule" in error["reason"]
    error_of(client.delete("/api/entries/static-one"), 409)
    assert client.post("/api/entries/static-one/disable", json={}).status_code == 200
    assert client.get("/api/entries/static-one").json()["static"] is True


def test_read_only_refuses_every_change(make_client: Any, store: SqliteStore) -> None:
    store.save(Entry("report", "proj.report", Interval(60)))
    client = make_client(read_only=True)
    for response in (
        client.post("/api/entries", json=definition("other")),
        client.patch("/api/entries/report", json={"jitter": 1}),
        client.delete("/api/entries/report"),
        client.post("/api/entries/report/disable", json={}),
        client.post("/api/entries/report/enable", json={}),
        client.post("/api/entries/report/trigger", json={}),
    ):
        assert "read-only" in error_of(response, 403)["reason"]
    assert [e.name for e in store.entries()] == ["report"]
    assert store.get("report").enabled and store.state("report").triggered_at is None
    assert client.get("/api/entries/report").status_code == 200
    assert client.get("/api/settings").json()["read_only"] is True


def test_token_and_basic_auth(make_client: Any) -> None:
    client = make_client(token="s3cret-token", username="ops", password="pa55")
    error = error_of(client.get("/api/entries"), 401)
    assert "authentication" in error["reason"]
    assert client.get("/api/entries").headers["www-authenticate"].startswith("Basic")
    error_of(client.get("/api/entries", headers={"authorization": "Bearer wrong"}), 401)
    error_of(client.get("/api/entries", headers={"authorization": "Bearer"}), 401)
    error_of(client.get("/api/entries", headers={"authorization": "Basic !!!"}), 401)
    error_of(client.get("/api/entries", auth=("ops", "wrong")), 401)
    error_of(client.get("/api/entries", auth=("someone", "pa55")), 401)
    error_of(client.get("/", auth=("ops", "wrong")), 401)
    ok = {"authorization": "Bearer s3cret-token"}
    assert client.get("/api/entries", headers=ok).status_code == 200
    assert client.get("/api/entries", auth=("ops", "pa55")).status_code == 200
    assert client.get("/", auth=("anyone", "s3cret-token")).status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/healthz").status_code in (200, 503)  # probes need no credentials
    assert "s3cret" not in client.get("/healthz").text


def test_unexpected_errors_are_json_without_traceback(
    client: TestClient, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail password=hunter2")

    monkeypatch.setattr(store, "entries_page", broken)
    error = error_of(client.get("/api/entries"), 500)
    assert "hunter2" not in error["reason"] and "internal error" in error["reason"]
    page = client.get("/")
    assert page.status_code == 500 and "hunter2" not in page.text
    assert "Traceback" not in page.text


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_healthz_follows_the_leaders_ticks(
    client: TestClient, store: SqliteStore, clock: FakeClock
) -> None:
    """503 before any tick, 200 within the lock TTL (30 s) of one, 503 after it."""
    assert client.get("/healthz").status_code == 503
    lease = store.lock.acquire("host:42:start", 30)
    assert lease is not None
    store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    clock.advance(2)
    ok = client.get("/healthz")
    assert ok.status_code == 200 and ok.json()["healthy"] is True, ok.text
    clock.advance(40)
    late = client.get("/healthz")
    assert late.status_code == 503 and "lock TTL" in late.json()["reason"]


def test_health_panel_and_metrics(client: TestClient, store: SqliteStore, clock: FakeClock) -> None:
    store.save(Entry("report", "proj.report", Interval(60)))
    lease = store.lock.acquire("worker-7:4242:2026-01-05T12:00:00", 30)
    assert lease is not None
    store.claim_due(lease, clock(), limit=10, reclaim_after=30)
    panel = client.get("/api/health").json()
    assert panel["leader"]["host"] == "worker-7" and panel["leader"]["pid"] == 4242
    assert panel["fencing_token"] == lease.token
    assert panel["last_tick_age_seconds"] == 0
    assert panel["url"].startswith("sqlite:///")
    clock.advance(1.5)  # the probes' snapshot (taken when the app was built) is renewed
    text = client.get("/metrics").text
    assert "beatcore_store_entries 1.0" in text
    assert "beatcore_store_leader 1.0" in text
    assert f"beatcore_store_fencing_token {float(lease.token)}" in text
    assert "report" not in text  # no label names an entry


def test_openapi_describes_every_route(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths["/api/entries"]) == {"get", "post"}
    assert set(paths["/api/entries/{name}"]) == {"get", "patch", "delete"}
    assert paths["/api/entries/{name}/{action}"]["post"]["parameters"][1]["name"] == "action"
    assert paths["/api/health"]["get"]["summary"].startswith("``GET /api/health``")


def test_every_change_is_in_the_change_log(make_client: Any, store: SqliteStore) -> None:
    """Through beatcore.operations: who (the signed-in user), what, why, which fields."""
    client = make_client(username="ops", password="pw")
    client.auth = ("ops", "pw")
    client.post("/api/entries", json=definition())
    client.patch("/api/entries/report", json={"jitter": 5})
    client.post("/api/entries/report/disable", json={"reason": "quarter close"})
    body = client.get("/api/entries/report").json()
    assert body["disabled_by"]["reason"] == "quarter close" and body["disabled_by"]["by"] == "ops"
    triggered = client.post("/api/entries/report/trigger", json={"reason": "rerun"})
    assert triggered.json()["task_id"] and triggered.json()["action"] == "triggered"
    log = client.get("/api/entries/report").json()["changes"]
    assert [(c["action"], c["by"], c["reason"]) for c in log] == [
        ("trigger", "ops", "rerun"),
        ("disable", "ops", "quarter close"),
        ("update", "ops", None),
        ("add", "ops", None),
    ]
    assert log[2]["fields"] == ["jitter"]
    client.delete("/api/entries/report")
    assert next(c.action for c in store.changes("report")) == "delete"
    client.post("/api/entries", json=definition("x"))
    long = error_of(client.post("/api/entries/x/disable", json={"reason": "r" * 501}), 422)
    assert "reason" in long["fields"]


def test_an_anonymous_change_is_by_web_at_host(client: TestClient, store: SqliteStore) -> None:
    client.post("/api/entries", json=definition())
    (change,) = store.changes("report")
    assert change.by is not None and change.by.startswith("web@")


def test_a_task_the_app_does_not_know_is_a_warning(store: SqliteStore, clock: FakeClock) -> None:
    from celery import Celery

    from beatcore_web import create_app

    app = Celery("known", set_as_current=False)
    client = TestClient(create_app(store, clock=clock, celery_app=app), base_url="http://127.0.0.1")
    created = client.post("/api/entries", json=definition(task="proj.unknown"))
    assert created.status_code == 201
    assert any("proj.unknown" in warning for warning in created.json()["warnings"])


def test_healthz_answers_503_when_the_store_does_not_answer_in_time(
    make_client: Any, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock read that hangs (a store gone silent) is a 503 after probe_timeout."""
    hung = threading.Event()
    monkeypatch.setattr(store.lock, "current", lambda: hung.wait(30))
    client = make_client(probe_timeout=0.05)
    try:
        answer = client.get("/healthz")
        assert answer.status_code == 503 and "did not answer" in answer.json()["reason"]
    finally:
        hung.set()
