"""The web application: `create_app` builds it over the same `CaseService` as the API;
`python -m starter.web` serves it on web.host:web.port (its own process, supervised by the
dev stack beside the API). How to add a page: docs/web.md."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from models.identity import RoleKind
from runtime.logging import configure_logging, get_logger
from runtime.settings import ConfigError, Settings
from starter.client import CaseService
from starter.web import errors, signin
from starter.web.config import check_web_config, session_secret
from starter.web.pages import bec, department, figures, provider, register, reviewer
from starter.web.render import page

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "odb_sessie"
# No inline script or style anywhere: every page is served under this policy.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# The page each role starts on (the first role the user has, in this order).
HOME_BY_ROLE: dict[RoleKind, str] = {
    RoleKind.REVIEWER: "/beoordelen",
    RoleKind.BEC: "/beroepen",
    RoleKind.DEPARTMENT: "/departement",
    RoleKind.PROVIDER: provider.HOME,
}
# A chart of the department's figures (/departement/cijfers) is an image (<img src>): its own SVG
# document styles itself, and an image runs no script.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


class SecurityHeaders:
    """The headers above on every answer; pages (not static files) are never cached, so a
    signed-out browser's back button shows no one's dossier."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        is_static = path.startswith("/static/")
        is_chart = path.startswith("/departement/cijfers/") and path.endswith(".svg")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                policy = {"Content-Security-Policy": CHART_POLICY} if is_chart else {}
                headers += [
                    (k.lower().encode(), v.encode())
                    for k, v in {**SECURITY_HEADERS, **policy}.items()
                ]
                if not is_static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    settings: Settings,
    client: Client | None = None,
    pool: asyncpg.Pool[Any] | None = None,
) -> FastAPI:
    check_web_config(settings)
    service = CaseService(settings, client, pool)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await service.close()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service = service
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(signin.router(settings))
    app.include_router(reviewer.router())
    app.include_router(bec.router())
    app.include_router(department.router())
    app.include_router(figures.router())  # the department's figures (issue 30)
    app.include_router(register.router())
    app.include_router(provider.router())

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is up (no dependencies): for the dev stack and a load balancer."""
        return {"status": "ok"}

    @app.get("/")
    async def home(request: Request) -> Response:
        actor = signin.require_user(request)
        for role, path in HOME_BY_ROLE.items():
            if actor.has(role):
                return RedirectResponse(path, status_code=303)
        return page(request, "start.html", {"title": "Opleidingsdatabank"})

    app.add_exception_handler(Exception, errors.handle)
    for exc_type in (
        signin.SignInNeeded,
        signin.CsrfRefused,
        *errors.HANDLED,
    ):
        app.add_exception_handler(exc_type, errors.handle)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie=SESSION_COOKIE,
        max_age=settings.web.idle_minutes * 60,
        same_site="lax",
        https_only=not settings.dev_mode,
    )
    app.add_middleware(SecurityHeaders)
    return app


def serve(settings: Settings) -> None:
    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise SystemExit(f"the web application cannot start: {exc}") from None
    configure_logging()
    # authlib writes the PKCE verifier in a debug line: never let such a line out.
    logging.getLogger("authlib").setLevel(logging.WARNING)
    get_logger("starter.web").info(
        "web.listening", url=f"http://{settings.web.host}:{settings.web.port}"
    )
    uvicorn.run(
        app,
        host=settings.web.host,
        port=settings.web.port,
        log_config=None,
        log_level="warning",
        access_log=False,
    )
