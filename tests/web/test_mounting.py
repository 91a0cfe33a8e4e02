"""The dashboard inside another application: mounted under a path (ASGI), and as WSGI."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from beatcore.entry import Entry
from beatcore.schedules import Interval
from beatcore.stores.sqlite import SqliteStore
from beatcore.testing import FakeClock
from beatcore_web import WebConfig, create_app, wsgi_app


def test_mounted_under_a_path(store: SqliteStore, clock: FakeClock) -> None:
    """Links, forms and redirects keep the mount's path; /healthz stays open under it."""
    store.save(Entry("report", "proj.report", Interval(60)))
    dashboard = create_app(store, config=WebConfig(token="t0ken"), clock=clock)
    host = Starlette(routes=[Mount("/beat", app=dashboard)])
    client = TestClient(host, base_url="http://127.0.0.1", raise_server_exceptions=False)
    auth = {"authorization": "Bearer t0ken"}
    page = client.get("/beat/", headers=auth).text
    assert 'href="/beat/entries/report"' in page and 'href="/beat/static/style.css"' in page
    entry = client.get("/beat/entries/report", headers=auth)
    token = re.search(r'name="csrf_token" value="([^"]+)"', entry.text)
    assert token, entry.text
    done = client.post(
        "/beat/entries/report/disable",
        headers=auth,
        follow_redirects=False,
        data={"csrf_token": token.group(1), "reason": "mounted"},
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/beat/entries/")
    assert not store.get("report").enabled
    assert client.get("/beat/healthz").status_code == 503  # open, and no beat ticked
    missing = client.get("/beat/api/entries/nope", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["status"] == 404


def test_as_a_wsgi_application(store: SqliteStore, clock: FakeClock) -> None:
    store.save(Entry("report", "proj.report", Interval(60)))
    app = wsgi_app(create_app(store, clock=clock))
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/entries",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    started: list[str] = []
    body = b"".join(app(environ, lambda status, headers, *_: started.append(status)))
    assert started == ["200 OK"]
    assert [item["name"] for item in json.loads(body)["entries"]] == ["report"]
