"""The JSON API under ``/api/``: the same reads and operations as the pages.

docs/web.rst documents each route. Changes are taken only as ``application/json`` (a page of
another site cannot send that without a CORS preflight), made through
:class:`~beatcore_web.operating.Operations`, and refused on a read-only dashboard (403);
a static entry cannot be edited or deleted here (409: beat_schedule owns it).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from beatcore.entry import Entry
from beatcore.operation_rules import pause_of
from beatcore.operations import OperationResult
from beatcore_web.context import Dashboard, dashboard, operations
from beatcore_web.definition import Invalid, build_entry, schedule_fields
from beatcore_web.errors import ApiError
from beatcore_web.health import panel
from beatcore_web.listing import STATES, Query, read_page
from beatcore_web.operating import ACTIONS, change_json
from beatcore_web.views import (
    definition_json,
    entry_json,
    next_runs,
    runs_json,
    unreadable_json,
)

#: The largest JSON body taken (a definition is a few kilobytes).
MAX_BODY = 1_000_000
#: Runs and changes the entry route returns by default.
RECENT = 20


async def json_body(request: Request) -> dict[str, Any]:
    """Return the request's JSON object (``{}`` when empty).

    :raises ApiError: 415 when not ``application/json``, 413 when larger than
        :data:`MAX_BODY`, 400 when not a JSON object.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "send the body as application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"the body is {len(raw)} bytes, more than {MAX_BODY}")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the body must be a JSON object, got {type(data).__name__}")
    return data


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(
            400, f"{name} must be an integer, got {text!r}", {name: "not an integer"}
        ) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be from {low} to {high}, got {value}", {name: "range"})
    return value


def query_of(request: Request) -> Query:
    """Return the listing the query string asks for (``pattern``, ``state``, ``order``,
    ``after``, ``limit``).

    :raises ApiError: 400 naming the parameter that is wrong.
    """
    params = request.query_params
    state = params.get("state") or None
    if state is not None and state not in STATES:
        raise ApiError(
            400,
            f"state must be one of {', '.join(STATES)}, got {state!r}",
            {"state": "unknown state"},
        )
    order = params.get("order") or "asc"
    if order not in ("asc", "desc"):
        raise ApiError(400, f"order must be asc or desc, got {order!r}", {"order": "asc/desc"})
    return Query(
        pattern=params.get("pattern") or None,
        state=state,
        descending=order == "desc",
        after=params.get("after") or None,
        limit=_int(request, "limit", 50, 1, 1000),
    )


def listing_json(board: Dashboard, query: Query) -> dict[str, Any]:
    """Return one page of the listing as the API answers it."""
    now = board.now()
    page = read_page(board.store, query, now, board.config.overdue_after)
    return {
        "entries": [
            unreadable_json(item)
            if not isinstance(item, tuple)
            else entry_json(*item, now, board.default_tz, board.config.overdue_after)
            for item in page.items
        ],
        "next_after": page.next_after,
        "searched": page.searched,
        "partial": page.partial,
    }


def entry_detail(board: Dashboard, name: str, runs: int = RECENT) -> dict[str, Any]:
    """Return one entry whole: listing fields, the next runs, its history and change log."""
    store = board.store
    entry = store.get(name)
    state = store.state(name)
    now = board.now()
    data = entry_json(entry, state, now, board.default_tz, board.config.overdue_after)
    data["next_runs"] = next_runs(entry, state, 5, board.default_tz, now)
    data["history"] = runs_json(store.history(name, runs), entry, board.default_tz)
    log = store.changes(name, RECENT)
    data["changes"] = [change_json(change) for change in log]
    pause = pause_of(log) if not entry.enabled else None
    data["disabled_by"] = None if pause is None else change_json(pause)
    return data


def result_json(board: Dashboard, result: OperationResult) -> dict[str, Any]:
    """Return what an operation did: the entry whole, and ``action``, ``warnings`` and, for a
    trigger, ``task_id``."""
    data = entry_detail(board, result.name)
    data.update(action=result.action, warnings=list(result.warnings), task_id=result.task_id)
    return data


async def list_entries(request: Request) -> Response:
    """``GET /api/entries``: a page of the listing."""
    board = dashboard(request)
    query = query_of(request)
    return JSONResponse(await run_in_threadpool(listing_json, board, query))


async def create_entry(request: Request) -> Response:
    """``POST /api/entries``: add an entry (201; 409 when the name is taken)."""
    data = await json_body(request)
    ops = operations(request)
    board = dashboard(request)

    def create() -> dict[str, Any]:
        return result_json(board, ops.add(_build(board, data, None)))

    return JSONResponse(await run_in_threadpool(create), 201)


def _build(board: Dashboard, data: dict[str, Any], base: Entry | None) -> Entry:
    try:
        return build_entry(
            board.plugins, data, base=base, default_tz=board.default_tz, now=board.now()
        )
    except Invalid as exc:
        raise ApiError(422, "the definition is not valid", exc.errors) from None


async def get_entry(request: Request) -> Response:
    """``GET /api/entries/{name}``: the entry with its next runs, history and changes."""
    board = dashboard(request)
    name = request.path_params["name"]
    runs = _int(request, "runs", RECENT, 0, 1000)
    return JSONResponse(await run_in_threadpool(entry_detail, board, name, runs))


async def edit_entry(request: Request) -> Response:
    """``PATCH /api/entries/{name}``: change the given fields of a dynamic entry."""
    data = await json_body(request)
    ops = operations(request)
    board = dashboard(request)
    name = request.path_params["name"]

    def edit() -> dict[str, Any]:
        return result_json(board, ops.replace(_build(board, data, ops.editable(name))))

    return JSONResponse(await run_in_threadpool(edit))


async def delete_entry(request: Request) -> Response:
    """``DELETE /api/entries/{name}``: remove a dynamic entry and its history."""
    ops = operations(request)
    name = request.path_params["name"]
    done = await run_in_threadpool(ops.delete_dynamic, name)
    return JSONResponse({"deleted": name, "warnings": list(done.warnings)})


async def act(request: Request) -> Response:
    """``POST /api/entries/{name}/{enable,disable,trigger}`` (disable takes a ``reason``)."""
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise ApiError(404, f"no action {action!r}: the actions are {', '.join(ACTIONS)}")
    data = await json_body(request)
    ops = operations(request)
    board = dashboard(request)
    name = request.path_params["name"]
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ApiError(422, "reason must be a string", {"reason": "not a string"})

    def run() -> dict[str, Any]:
        return result_json(board, ops.act(name, action, reason or None))

    return JSONResponse(await run_in_threadpool(run))


async def history(request: Request) -> Response:
    """``GET /api/entries/{name}/history?limit=N``: the run history, newest first."""
    board = dashboard(request)
    name = request.path_params["name"]
    limit = _int(request, "limit", RECENT, 1, 100_000)

    def read() -> dict[str, Any]:
        entry = board.store.get(name)
        return {
            "name": name,
            "runs": runs_json(board.store.history(name, limit), entry, board.default_tz),
        }

    return JSONResponse(await run_in_threadpool(read))


async def health(request: Request) -> Response:
    """``GET /api/health``: the health panel as JSON (200 healthy, 503 not)."""
    board = dashboard(request)
    data = await run_in_threadpool(
        panel, board.store, board.now(), board.lock_ttl, board.config.overdue_after
    )
    return JSONResponse(data, 200 if data["healthy"] else 503)


async def schedule_types(request: Request) -> Response:
    """``GET /api/schedule-types``: every registered schedule type and its fields."""
    board = dashboard(request)
    types = board.plugins.schedule_types()
    return JSONResponse(
        {name: {"fields": list(schedule_fields(cls))} for name, cls in sorted(types.items())}
    )


async def settings(request: Request) -> Response:
    """``GET /api/settings``: what this dashboard allows (read-only or not)."""
    board = dashboard(request)
    return JSONResponse({"read_only": board.config.read_only, "timezone": board.default_tz})


ROUTES = [
    Route("/api/entries", list_entries, methods=["GET"]),
    Route("/api/entries", create_entry, methods=["POST"]),
    Route("/api/entries/{name:path}/history", history, methods=["GET"]),
    Route("/api/entries/{name:path}/{action:str}", act, methods=["POST"]),
    Route("/api/entries/{name:path}", get_entry, methods=["GET"]),
    Route("/api/entries/{name:path}", edit_entry, methods=["PATCH"]),
    Route("/api/entries/{name:path}", delete_entry, methods=["DELETE"]),
    Route("/api/health", health, methods=["GET"]),
    Route("/api/schedule-types", schedule_types, methods=["GET"]),
    Route("/api/settings", settings, methods=["GET"]),
]

#: definition_json is what GET returns under "schedule" and what PATCH takes back.
__all__ = ["ROUTES", "definition_json"]
