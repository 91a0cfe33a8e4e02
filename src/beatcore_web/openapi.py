"""``GET /api/openapi.json``: the JSON API described as OpenAPI 3.1, from its own routes.

Each path and method comes from :data:`beatcore_web.api.ROUTES` and is summarised by the first
line of its handler's docstring, so the description cannot drift from the routes; the
request and response bodies are described in words in docs/web.rst.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from beatcore import __version__

_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")

ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "reason": {"type": "string"},
                "field": {"type": ["string", "null"]},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}


def describe(routes: list[Route]) -> dict[str, Any]:
    """Return the OpenAPI document of ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = _PARAMETER.sub(r"{\1}", route.path)
        doc = (route.endpoint.__doc__ or "").strip().splitlines()
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation: dict[str, Any] = {
                "summary": doc[0] if doc else path,
                "responses": {
                    "200": {"description": "done", "content": {"application/json": {}}},
                    "default": {
                        "description": "a refusal, naming the field and the reason",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            }
            names = _PARAMETER.findall(route.path)
            if names:
                operation["parameters"] = [
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    for name in names
                ]
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "beatcore web API", "version": __version__},
        "paths": paths,
        "components": {"schemas": {"Error": ERROR}},
    }


def openapi_route(routes: list[Route]) -> Route:
    """Return the route serving the OpenAPI document of ``routes``."""
    document = describe(routes)

    async def openapi(request: Request) -> Response:
        """``GET /api/openapi.json``: this API as OpenAPI 3.1."""
        return JSONResponse(document)

    return Route("/api/openapi.json", openapi, methods=["GET"])
