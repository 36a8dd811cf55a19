"""One structured line per request, and the last word on every error the routes let escape.

`api.request` carries the method, the route template (never the raw path or query: a cursor
or a dossier number of another organisation stays out of it), the status, the duration, the
dossier named in the path, the verified token's subject and organisation, and a request id,
returned to the caller in `X-Request-ID`. Every request has its line, the probes of
`GET /health` too (filter them by their route). A refusal adds its problem type; a 503 or a
500 adds its cause (the driver's or server's own words, which the caller is never shown). A
token and a document's content are never logged.

An exception no handler took (a lost PostgreSQL connection in a route that reads the pool
itself, or a bug) is answered here as a problem (503 naming the registry, or 500) instead of
reaching the server: Starlette would send the 500 and re-raise, and uvicorn then drops the
keep-alive connection without `Connection: close`, failing the caller's next request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.logging import get_logger
from starter.api import problems

REQUEST_ID_HEADER = "X-Request-ID"
log = get_logger("starter.api")


def note(scope: Scope, **facts: Any) -> None:
    """Adds facts to this request's access line (the actor, a problem, a cause)."""
    scope.setdefault("state", {}).setdefault("access_log", {}).update(facts)


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        started_at = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            problem = problems.from_exception(exc)
            note(scope, problem=problem.slug, cause=problems.cause_of(exc))
            if problem.status >= 500 and problem.slug != "unavailable":
                log.exception("api.error", request_id=request_id, route=_route(scope))
            if status == 0:  # nothing sent yet: the caller gets the problem
                await problems.render(problem, scope.get("path"))(scope, receive, send_with_id)
        finally:
            self._line(scope, request_id, status, time.perf_counter() - started_at)

    def _line(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        facts = dict(scope.get("state", {}).get("access_log", {}))
        actor = facts.pop("actor", None)
        path_params = scope.get("path_params") or {}
        fields: dict[str, Any] = {
            "method": scope.get("method"),
            "route": _route(scope),
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
            "request_id": request_id,
        }
        if "dossier" in path_params:
            fields["dossier"] = path_params["dossier"]
        if actor is not None:
            fields["subject"] = actor.subject
            fields["organisation"] = actor.organisation
        fields.update(facts)
        level = "error" if status >= 500 else "warning" if status >= 400 else "info"
        getattr(log, level)("api.request", **fields)


def _route(scope: Scope) -> str:
    """The route template the request was for. FastAPI's own pages (/openapi.json, /docs)
    leave no route in the scope, and a body refused before routing (413) met none: then the
    app's routes say which one the method and path are for."""
    path = getattr(scope.get("route"), "path", None) or _matching(scope)
    return str(path) if path else "(no route)"


def _leaves(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route of the app, through the routers it includes (FastAPI keeps an included
    router's routes under `original_router`; ours are included without a prefix)."""
    for route in routes:
        inner = getattr(route, "routes", None)
        if inner is None:
            inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is None:
            yield route
        else:
            yield from _leaves(inner)


def _matching(scope: Scope) -> str | None:
    partial: str | None = None
    for route in _leaves(getattr(getattr(scope.get("app"), "router", None), "routes", ())):
        path = getattr(route, "path", None)
        if path is None:
            continue
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return str(path)
        if match is Match.PARTIAL and partial is None:
            partial = str(path)  # the path is right, the method is not (405)
    return partial
