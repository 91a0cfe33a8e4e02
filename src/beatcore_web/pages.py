"""The pages a person uses: the entries table, one entry, the add/edit form, health.

Every page is rendered on the server from the same reads as the API (no JavaScript is
needed; one small script only hides the fields of the schedule types not chosen). Forms post
back here with a CSRF token; a change redirects (303) to the page that shows its result.
On a read-only dashboard the forms and buttons are not shown and their posts are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from beatcore.entry import Entry
from beatcore.errors import ChangeRefused
from beatcore.operations import OperationResult
from beatcore_web.api import entry_detail, query_of
from beatcore_web.context import dashboard, operations
from beatcore_web.definition import (
    ENTRY_FIELDS,
    Invalid,
    build_entry,
    definition_from_form,
    schedule_fields,
)
from beatcore_web.errors import ApiError, as_api_error
from beatcore_web.health import panel
from beatcore_web.listing import STATES, read_page
from beatcore_web.operating import ACTIONS
from beatcore_web.security import CSRF_COOKIE, CSRF_FIELD, csrf_ok, new_csrf_token
from beatcore_web.views import row, unreadable_row

#: What a redirect after a change says on the page it lands on.
DONE = {
    "added": "Entry added.",
    "saved": "Entry saved.",
    "enabled": "Entry enabled.",
    "disabled": "Entry disabled.",
    "triggered": "Entry triggered: it runs at beat's next tick.",
    "deleted": "Entry deleted.",
}

#: The cookie carrying an operation's warnings to the page its redirect leads to.
NOTES_COOKIE = "beatcore_notes"
_DONE_OF = {"enable": "enabled", "disable": "disabled", "trigger": "triggered"}

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("beatcore_web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def entry_path(name: str, suffix: str = "") -> str:
    """Return the page path of entry ``name`` (percent-encoded, so any name works)."""
    return f"/entries/{quote(name, safe='')}{suffix}"


TEMPLATES.filters["entry_path"] = entry_path


def base_path(request: Request) -> str:
    """Return the path the dashboard is mounted at (``""`` when served alone)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def redirect(request: Request, path: str, notes: Sequence[str] = ()) -> Response:
    """Return the 303 to ``path`` of this dashboard after a change; ``notes`` (an operation's
    warnings) are shown once by the page it leads to (a short-lived cookie)."""
    response = RedirectResponse(base_path(request) + path, 303)
    if notes:
        packed = base64.urlsafe_b64encode(json.dumps(list(notes)).encode()).decode()
        response.set_cookie(NOTES_COOKIE, packed[:3000], httponly=True, samesite="strict")
    return response


def _notes(request: Request) -> list[str]:
    packed = request.cookies.get(NOTES_COOKIE)
    if not packed:
        return []
    try:
        notes = json.loads(base64.urlsafe_b64decode(packed.encode()))
    except (ValueError, binascii.Error):
        return []
    return [str(note) for note in notes] if isinstance(notes, list) else []


def render(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    """Return ``template`` rendered (escaped) with the dashboard's common values."""
    board = dashboard(request)
    token = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    html = TEMPLATES.get_template(template).render(
        base=base_path(request),
        read_only=board.config.read_only,
        csrf_field=CSRF_FIELD,
        csrf_token=token,
        done=DONE.get(request.query_params.get("done", "")),
        notes=_notes(request),
        **values,
    )
    response = HTMLResponse(html, status)
    if NOTES_COOKIE in request.cookies:
        response.delete_cookie(NOTES_COOKIE)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


async def error_page(request: Request, exc: Exception) -> Response:
    """Answer an error of a page request with a page saying what went wrong."""
    error = as_api_error(exc)
    return render(
        request,
        "error.html",
        error.status,
        code=error.status,
        reason=error.reason,
        fields=error.fields,
    )


async def checked_form(request: Request) -> dict[str, str]:
    """Return a posted form's fields after checking its CSRF token (and read-only).

    :raises ApiError: 403 when the token is missing or wrong, or the dashboard read-only.
    """
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if not csrf_ok(request.cookies, fields.get(CSRF_FIELD)):
        raise ApiError(
            403,
            "the form's CSRF token is missing or wrong: reload the page and send the form again",
        )
    operations(request)  # refuses on a read-only dashboard
    return fields


async def entries_page(request: Request) -> Response:
    """``GET /``: the entries table (filter, order, pages)."""
    board = dashboard(request)
    query = query_of(request)

    def read() -> dict[str, Any]:
        now = board.now()
        page = read_page(board.store, query, now, board.config.overdue_after)
        rows = []
        for item in page.items:
            if isinstance(item, tuple):
                last = board.store.history(item[0].name, 1)
                rows.append(
                    row(
                        *item,
                        now,
                        board.default_tz,
                        board.config.overdue_after,
                        last[0] if last else None,
                    )
                )
            else:
                rows.append(unreadable_row(item, now))
        return {"rows": rows, "page": page}

    found = await run_in_threadpool(read)
    params = {
        "pattern": query.pattern or "",
        "state": query.state or "",
        "order": "desc" if query.descending else "asc",
        "limit": str(query.limit),
    }
    next_url = (
        "/?" + urlencode({**params, "after": found["page"].next_after})
        if found["page"].next_after is not None
        else None
    )
    return render(
        request,
        "entries.html",
        rows=found["rows"],
        params=params,
        states=STATES,
        next_url=next_url,
        first_url="/?" + urlencode(params) if query.after else None,
        partial=found["page"].partial,
        searched=found["page"].searched,
    )


async def entry_page(request: Request) -> Response:
    """``GET /entries/{name}``: definition, next runs, history, changes and the actions."""
    board = dashboard(request)
    name = request.path_params["name"]
    data = await run_in_threadpool(entry_detail, board, name)
    return render(
        request,
        "entry.html",
        entry=data,
        name=name,
        definition=json.dumps(_definition(data), indent=2, sort_keys=True),
    )


def _definition(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in ENTRY_FIELDS if key in data} | {"static": data["static"]}


def _form_values(entry: Entry) -> dict[str, str]:
    """The edit form's fields of ``entry``, as text."""
    values = {
        "name": entry.name,
        "task": entry.task,
        "description": entry.description or "",
        "args": json.dumps(list(entry.args)),
        "kwargs": json.dumps(entry.kwargs),
        "options": json.dumps(entry.options),
        "enabled": "on" if entry.enabled else "",
        "tz": entry.tz or "",
        "catch_up": entry.catch_up,
        "start_at": entry.start_at.isoformat() if entry.start_at else "",
        "end_at": entry.end_at.isoformat() if entry.end_at else "",
        "max_runs": "" if entry.max_runs is None else str(entry.max_runs),
        "misfire_grace": "" if entry.misfire_grace is None else f"{entry.misfire_grace:g}",
        "jitter": f"{entry.jitter:g}" if entry.jitter else "",
        "schedule.type": entry.schedule.type_name,
    }
    fields = entry.schedule.to_dict()
    prefix = f"schedule.{entry.schedule.type_name}."
    names = schedule_fields(type(entry.schedule))
    if names == ("json",):
        values[prefix + "json"] = json.dumps(fields)
    for key in names:
        value = fields.get(key)
        if value is not None and key != "json":
            values[prefix + key] = value if isinstance(value, str) else json.dumps(value)
    return values


def _form(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    editing: str | None,
    status: int = 200,
) -> Response:
    board = dashboard(request)
    types = {
        name: schedule_fields(cls) for name, cls in sorted(board.plugins.schedule_types().items())
    }
    chosen = values.get("schedule.type") or request.query_params.get("type") or "crontab"
    shown = {}
    for key, why in errors.items():
        field = key.removeprefix("schedule.")
        if key == field or key == "schedule.type":
            shown[key] = why
        elif field in types.get(chosen, ()):
            shown[f"schedule.{chosen}.{field}"] = why
        else:  # a field the form has no input for: beside the JSON one, else the type
            only_json = types.get(chosen) == ("json",)
            shown[f"schedule.{chosen}.json" if only_json else "schedule"] = why
    return render(
        request,
        "form.html",
        status,
        values=values,
        errors=shown,
        types=types,
        chosen=chosen,
        editing=editing,
    )


async def new_form(request: Request) -> Response:
    """``GET /new``: the add form (``?type=`` picks the schedule type shown first)."""
    operations(request)
    return _form(request, {"enabled": "on"}, {}, editing=None)


async def edit_form(request: Request) -> Response:
    """``GET /entries/{name}/edit``: the edit form, filled in."""
    name = request.path_params["name"]
    entry = await run_in_threadpool(operations(request).editable, name)
    return _form(request, _form_values(entry), {}, editing=name)


async def save_form(request: Request) -> Response:
    """``POST /new`` and ``POST /entries/{name}/edit``: validate and save, or show why not."""
    fields = await checked_form(request)
    ops = operations(request)
    board = dashboard(request)
    editing = request.path_params.get("name")

    def save() -> OperationResult:
        base = ops.editable(editing) if editing is not None else None
        data = definition_from_form(fields, board.plugins)
        if base is not None:
            data.pop("name", None)
        entry = build_entry(
            board.plugins, data, base=base, default_tz=board.default_tz, now=board.now()
        )
        try:
            return ops.add(entry) if base is None else ops.replace(entry)
        except ChangeRefused as exc:
            if exc.kind == "exists" or exc.field:
                raise Invalid({exc.field or "name": str(exc)}) from None
            raise

    try:
        done = await run_in_threadpool(save)
    except Invalid as exc:
        return _form(request, fields, exc.errors, editing=editing, status=422)
    path = entry_path(done.name, "?done=" + ("saved" if editing else "added"))
    return redirect(request, path, done.warnings)


async def act(request: Request) -> Response:
    """``POST /entries/{name}/{enable,disable,trigger}``: the entry page's buttons."""
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise ApiError(404, f"no action {action!r}")
    fields = await checked_form(request)
    ops = operations(request)
    name = request.path_params["name"]
    reason = fields.get("reason", "").strip() or None
    done = await run_in_threadpool(ops.act, name, action, reason)
    return redirect(request, entry_path(name, f"?done={_DONE_OF[action]}"), done.warnings)


async def delete_confirm(request: Request) -> Response:
    """``GET /entries/{name}/delete``: ask before deleting."""
    name = request.path_params["name"]
    entry = await run_in_threadpool(operations(request).deletable, name)
    return render(request, "delete.html", name=name, task=entry.task if entry else None)


async def delete(request: Request) -> Response:
    """``POST /entries/{name}/delete``: delete, then back to the table."""
    await checked_form(request)
    ops = operations(request)
    name = request.path_params["name"]
    done = await run_in_threadpool(ops.delete_dynamic, name)
    return redirect(request, "/?done=deleted", done.warnings)


async def health_page(request: Request) -> Response:
    """``GET /health``: the health panel."""
    board = dashboard(request)
    data = await run_in_threadpool(
        panel, board.store, board.now(), board.lock_ttl, board.config.overdue_after
    )
    return render(request, "health.html", health=data)


ROUTES = [
    Route("/", entries_page, methods=["GET"]),
    Route("/health", health_page, methods=["GET"]),
    Route("/new", new_form, methods=["GET"]),
    Route("/new", save_form, methods=["POST"]),
    Route("/entries/{name:path}/edit", edit_form, methods=["GET"]),
    Route("/entries/{name:path}/edit", save_form, methods=["POST"]),
    Route("/entries/{name:path}/delete", delete_confirm, methods=["GET"]),
    Route("/entries/{name:path}/delete", delete, methods=["POST"]),
    Route("/entries/{name:path}/{action:str}", act, methods=["POST"]),
    Route("/entries/{name:path}", entry_page, methods=["GET"]),
]
