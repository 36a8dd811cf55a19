"""The portal's HTTP API (WSE-loket -> this system). `python -m starter.api` serves it.

Every request carries the portal's signed token; roles are checked here and again in the
case workflow's validators. Errors are `application/problem+json` (starter/api/problems.py).
No `from __future__ import annotations` here: FastAPI reads the derived body models from
the live annotations of the route functions built in `_decision_route`.
"""

import asyncio
import contextlib
import email.message
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from models.application import DOSSIER_PATTERN, TrainingApplication
from models.case import CaseState, CaseStatus
from models.case_row import DossierPage, DossierView
from models.enterprise import EnterpriseNumber
from models.identity import Actor
from models.text import Day
from registry.errors import RegistryError
from rules.guards import CaseRefused
from runtime.logging import configure_logging, get_logger
from runtime.settings import PROJECT_ROOT, ConfigError, Settings
from starter import case_starts, cursors, worklists
from starter.acting import send_decision, submit_application, update_name
from starter.api import access, access_log, documents, problems, providers, reports
from starter.api.access_log import AccessLog
from starter.api.events import events_router
from starter.api.limits import BodyLimit
from starter.api.problems import BODY_PROBLEM_RESPONSES, PROBLEM_RESPONSES, Problem
from starter.api.schemas import RegisteredAnswer, SubmitResponse, body_model
from starter.auth import AuthError, TokenVerifier
from starter.client import CaseService, Refused, Unavailable
from starter.cursors import BadCursor
from starter.decisions import DECISIONS, Decision
from starter.jwks import KeysUnavailable

_bearer = HTTPBearer(auto_error=False, description="the portal's signed JWT (see docs/api.md)")

DossierPath = Annotated[
    str, Path(pattern=DOSSIER_PATTERN, description="dossier number, e.g. ODB-2027-000001")
]
# Visible ASCII only: HTTP drops whitespace at the ends of a header value, so a key with
# spaces would not arrive as sent.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{8,200}$"
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=200,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="unique per user action, 8 to 200 visible ASCII characters (a UUID); "
        "a retry with the same key has one effect",
    ),
]
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=200,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="recommended, 8 to 200 visible ASCII characters (a UUID): a retry with "
        "the same key has one effect",
    ),
]


async def json_body(request: Request) -> None:
    """415 for a body that is not sent as JSON (it would otherwise be read as bytes and
    refused with a puzzling 422)."""
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if not has_body:
        return
    message = email.message.Message()
    message["content-type"] = request.headers.get("content-type", "")
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with the header Content-Type: application/json",
            field="Content-Type",
        )


BODY_ROUTE: dict[str, Any] = {
    "responses": {**PROBLEM_RESPONSES, **BODY_PROBLEM_RESPONSES},
    "dependencies": [Depends(json_body)],
}


def _service(request: Request) -> CaseService:
    service: CaseService = request.app.state.service
    return service


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("no bearer token: send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.verifier
    actor = await verifier.verify(credentials.credentials)
    access_log.note(request.scope, actor=actor)
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


async def provider_user(actor: ActorDep) -> Actor:
    """Refuses a user without the provider role before the body is read: whatever such a
    user sends, the answer is the same 403 (never a 422 about a body it may not send)."""
    access.may_submit_at_all(actor)
    return actor


SubmitterDep = Annotated[Actor, Depends(provider_user)]
ServiceDep = Annotated[CaseService, Depends(_service)]


# ---- the decisions, from the one table (starter/decisions.py) ----


def _decision_route(router: APIRouter, decision: Decision) -> None:
    body_type = body_model(decision.model)

    async def endpoint(
        dossier: DossierPath,
        body: body_type,  # type: ignore[valid-type]
        actor: ActorDep,
        service: ServiceDep,
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> CaseStatus:
        # The model's own validators run in send_decision, so a cross-field rule is
        # refused before anything is sent.
        try:
            return await send_decision(
                service,
                decision,
                dossier,
                actor,
                body.model_dump(),  # type: ignore[attr-defined]
                idempotency_key,
            )
        except ValidationError as exc:
            raise problems.invalid(problems.field_errors(exc.errors(), skip_source=False)) from exc

    endpoint.__name__ = update_name(decision)
    router.add_api_route(
        f"/dossiers/{{dossier}}/{decision.route}",
        endpoint,
        methods=["POST"],
        response_model=CaseStatus,
        summary=decision.summary,
        tags=["decisions"],
        **BODY_ROUTE,
    )


def _routes() -> APIRouter:
    router = APIRouter(responses=PROBLEM_RESPONSES)

    @router.post(
        "/applications",
        status_code=201,
        response_model=SubmitResponse,
        tags=["applications"],
        summary="Submit an application; the same Idempotency-Key always gives the same dossier",
        responses={
            **BODY_ROUTE["responses"],
            200: {"description": "this Idempotency-Key was seen before: the same dossier"},
            202: {
                "model": SubmitResponse,
                "description": "received and numbered, its case not started yet (Temporal "
                "cannot be reached): the start is recorded and made as soon as Temporal is "
                "back, without a retry; the dossier reads as received until then",
            },
        },
        dependencies=BODY_ROUTE["dependencies"],
    )
    async def submit(
        application: TrainingApplication,
        idempotency_key: IdempotencyKey,
        actor: SubmitterDep,
        service: ServiceDep,
        request: Request,
        response: Response,
    ) -> SubmitResponse:
        result = await submit_application(service, actor, application, idempotency_key)
        url = str(request.url_for("read_dossier", dossier=result.dossier))
        response.headers["Location"] = url
        if not result.started:
            # Received and numbered, its case not started yet: Temporal cannot be reached.
            # The start is recorded and made as soon as it is back; no retry is needed.
            response.status_code = 202
        elif not result.created:
            response.status_code = 200
        return SubmitResponse(
            dossier=result.dossier,
            created=result.created,
            status_url=url,
            case_started=result.started,
        )

    @router.get(
        "/dossiers/{dossier}",
        response_model=DossierView,
        tags=["dossiers"],
        summary="The case as it stands, from the registry (as of its last step; answers "
        "while Temporal or the worker is down)",
    )
    async def read_dossier(
        dossier: DossierPath, actor: ActorDep, service: ServiceDep
    ) -> CaseStatus:
        # One query: for anyone but staff it finds only its own organisation's dossier.
        case = await service.read(dossier, provider=access.only_own(actor))
        access.may_read(actor, case)
        return access.shown(actor, case)

    @router.get(
        "/dossiers",
        response_model=DossierPage,
        tags=["dossiers"],
        summary="The dossiers of an organisation (a provider user: its own), newest first, "
        "from the registry; paged with a cursor, filtered by state",
    )
    async def list_dossiers(
        actor: ActorDep,
        service: ServiceDep,
        provider: Annotated[EnterpriseNumber | None, Query()] = None,
        state: Annotated[CaseState | None, Query(description="only dossiers in this state")] = None,
        cursor: Annotated[
            str | None,
            Query(
                max_length=cursors.CURSOR_MAX,
                pattern=cursors.CURSOR_PATTERN,
                description="next_cursor of a page, as given: the next page of that list",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=200, description="dossiers per page")] = 50,
    ) -> DossierPage:
        organisation = access.may_list(actor, provider)
        return await service.list_dossiers(
            organisation, state=state.value if state else None, cursor=cursor, limit=limit
        )

    @router.get(
        "/dossiers/{dossier}/registered",
        response_model=RegisteredAnswer,
        tags=["registry"],
        summary="Was this training registered on the given day? (the public register: "
        "false for any dossier never registered, or no dossier at all)",
    )
    async def registered_on(
        dossier: DossierPath,
        on: Annotated[Day, Query(description="YYYY-MM-DD")],
        _: ActorDep,
        service: ServiceDep,
    ) -> RegisteredAnswer:
        return RegisteredAnswer(
            dossier=dossier, on=on, registered=await service.registered_on(dossier, on)
        )

    @router.get(
        "/open-data/registered.csv",
        tags=["registry"],
        summary="Open data: every training registered on the given day, as CSV",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def export(
        on: Annotated[Day, Query(description="YYYY-MM-DD")],
        _: ActorDep,
        service: ServiceDep,
    ) -> Response:
        text = await service.export_csv(on)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="registered-{on}.csv"'},
        )

    @router.get("/health", tags=["ops"], summary="The API process is up (no dependencies)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    for decision in DECISIONS:
        _decision_route(router, decision)
    return router


def create_app(
    settings: Settings,
    client: Client | None = None,
    pool: "asyncpg.Pool[Any] | None" = None,
    *,
    verifier: TokenVerifier | None = None,
    clock: "Callable[[], datetime] | None" = None,
) -> FastAPI:
    # `clock`: when a submission arrives (default the machine's; see CaseService).
    service = CaseService(settings, client, pool, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Served (uvicorn): this process also makes the starts recorded while Temporal was
        # down, or left by an API process that died between its commit and its start.
        drainer = case_starts.start_draining(settings, service.pool, service.client)
        try:
            yield
        finally:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
            await service.close()

    app = FastAPI(
        title="Opleidingsdatabank case engine — portal API",
        version="1",
        summary="The WSE-loket's way in: applications, decisions, appeals and registry reads",
        lifespan=lifespan,
    )
    app.openapi = lambda: _exact_openapi(app)  # type: ignore[method-assign]
    app.state.service = service
    app.state.verifier = verifier or TokenVerifier(settings, PROJECT_ROOT)
    app.include_router(_routes())
    for extra in (worklists.router, documents.router):
        app.include_router(extra(current_actor))
    app.include_router(providers.router(current_actor, BODY_ROUTE))
    app.include_router(events_router(current_actor))  # GET /events (issue 14)
    app.include_router(reports.router(current_actor))  # GET /reports/{year} (issue 30)
    for exc_type in (
        Problem,
        RequestValidationError,
        AuthError,
        Refused,
        CaseRefused,
        Unavailable,
        RegistryError,
        StarletteHTTPException,
        BadCursor,
        KeysUnavailable,
    ):
        app.add_exception_handler(exc_type, problems.handle)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.api.max_body_bytes,
        routes={documents.UPLOAD_ROUTE: (documents.UPLOAD_BODY_LIMIT, "file")},
    )
    # Outermost: it sees every answer (a 413 of BodyLimit too) and every escaping error.
    app.add_middleware(AccessLog)
    return app


def _exact_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with an optional header or query parameter said as what may be
    sent: absent, or a string. (FastAPI writes `anyOf: [string, null]`, and `null` cannot be
    sent in a header or a query.)"""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        for operation in (op for item in spec["paths"].values() for op in item.values()):
            for param in operation.get("parameters", []):
                schema = param["schema"]
                options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
                if len(options) == 1 and len(schema["anyOf"]) == 2:
                    del schema["anyOf"]
                    schema.update(options[0])
        app.openapi_schema = spec
    return app.openapi_schema


def serve(settings: Settings) -> None:
    try:
        app = create_app(settings)
    except ConfigError as exc:
        # Refused at start, before listening: a half-set key source never serves a request.
        raise SystemExit(f"the portal API cannot start: {exc}") from None
    configure_logging()
    get_logger("starter.api").info(
        "api.listening", url=f"http://{settings.api.host}:{settings.api.port}", docs="/docs"
    )
    # uvicorn's own lines go through our JSON logging (log_config=None keeps its handlers
    # out); its access log is replaced by ours (starter/api/access_log.py).
    uvicorn.run(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,
        log_level="warning",
        access_log=False,
    )
