"""Errors as RFC 9457 `application/problem+json`: a stable `type`, a human `detail`, and the
offending `field` named as the portal sent it (e.g. `start_date`, `occupation_codes[0]`,
`Idempotency-Key`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import Refusal
from registry.case_rows import UnreadableStatus
from registry.errors import InvalidInput as RegistryInvalidInput
from registry.errors import RegistryError
from rules.guards import CaseRefused
from starter.auth import AuthError
from starter.client import (
    IDENTITY_PROVIDER,
    RETRY_AFTER_SECONDS,
    Refused,
    Unavailable,
    registry_down,
)
from starter.cursors import BadCursor
from starter.jwks import KeysUnavailable
from starter.registry_reads import is_unavailable as registry_unavailable

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:odb:problem:"
_LEADING_FIELD = re.compile(r"^([a-z_]+): ")


class FieldError(BaseModel):
    field: str | None
    detail: str
    rule: str


class ProblemBody(BaseModel):
    """The body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldError] = []
    instance: str | None = None


class Problem(Exception):
    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.field = field
        self.errors = list(errors)
        self.headers = headers or {}


REFUSAL_STATUS: dict[Refusal, tuple[int, str, str]] = {
    Refusal.FORBIDDEN: (403, "forbidden", "Not allowed"),
    Refusal.INVALID_STATE: (409, "invalid-state", "Not possible in the case's current state"),
    Refusal.WINDOW_CLOSED: (409, "window-closed", "The time limit has passed"),
    Refusal.CONFLICT: (409, "conflict", "Conflicts with an earlier request"),
    Refusal.INVALID_INPUT: (422, "invalid-input", "Invalid input"),
    Refusal.NOT_FOUND: (404, "not-found", "Not found"),
}


def _responses(*statuses: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ProblemBody, "content": {MEDIA_TYPE: {}}, "description": text}
        for status, text in statuses
    }


# Problem responses the OpenAPI document lists for every endpoint (an endpoint that takes a
# body adds BODY_PROBLEM_RESPONSES).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = _responses(
    (401, "missing or invalid token"),
    (403, "the user's roles do not allow this"),
    (404, "unknown dossier or provider"),
    (409, "not possible in the case's state, or a time limit passed"),
    (413, "request body too large"),
    (422, "invalid input; `field` names the offending field"),
    (
        503,
        "Temporal, the registry (PostgreSQL) or the identity provider unreachable; `detail` "
        "names which; retry "
        "after `Retry-After` seconds with the same Idempotency-Key",
    ),
)
PROBLEM_RESPONSES[405] = {
    **_responses((405, "method not allowed; the `Allow` header lists the methods"))[405],
    "headers": {"Allow": {"description": "the methods allowed", "schema": {"type": "string"}}},
}
PROBLEM_RESPONSES[503]["headers"] = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}
}
BODY_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = _responses(
    (400, "the body is not JSON (the detail gives the position)"),
    (415, "the body is not sent as Content-Type: application/json"),
)


def render(problem: Problem, instance: str | None = None) -> JSONResponse:
    body = ProblemBody(
        type=TYPE_PREFIX + problem.slug,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        field=problem.field,
        errors=problem.errors,
        instance=instance,
    )
    return JSONResponse(
        body.model_dump(),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=problem.headers,
    )


def field_name(loc: Sequence[int | str], *, skip_source: bool = True) -> str | None:
    """('body', 'occupation_codes', 0) -> 'occupation_codes[0]'; ('header', 'x') -> 'x'."""
    parts = list(loc)
    if skip_source and parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-after[", "function-before[", "function-wrap[")):
            continue  # pydantic's validator wrappers are no field of the portal's
        else:
            out += f".{part}" if out else part
    return out or None


def field_errors(errors: Sequence[Any], *, skip_source: bool = True) -> list[FieldError]:
    found: list[FieldError] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        rule = str(err.get("type", "invalid"))
        if rule == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "not valid JSON")
            pos = loc[1] if len(loc) > 1 else "?"
            found.append(
                FieldError(field=None, detail=f"malformed JSON at {pos}: {reason}", rule=rule)
            )
            continue
        name = field_name(loc, skip_source=skip_source)
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        named = _LEADING_FIELD.match(msg)
        if name is None and named:  # a rule over several fields names its field first
            name = named.group(1)
            msg = msg[named.end() :]
        if rule == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif rule == "missing":
            msg = "required"
        found.append(FieldError(field=name, detail=f"{name}: {msg}" if name else msg, rule=rule))
    return found


def invalid(errors: list[FieldError]) -> Problem:
    first = errors[0] if errors else FieldError(field=None, detail="invalid input", rule="")
    return Problem(
        422,
        "invalid-input",
        "Invalid input",
        "; ".join(e.detail for e in errors) or first.detail,
        field=first.field,
        errors=errors,
    )


def from_exception(exc: Exception) -> Problem:
    """Every error this service knows, as a problem; anything else is a 500."""
    match exc:
        case Problem():
            return exc
        case RequestValidationError():
            errors = field_errors(exc.errors())
            if any(e.rule == "json_invalid" for e in errors):
                return Problem(
                    400, "malformed-json", "Malformed JSON", errors[0].detail, errors=errors
                )
            return invalid(errors)
        case ValidationError():
            return invalid(field_errors(exc.errors(), skip_source=False))
        case AuthError():
            return Problem(
                401,
                "invalid-token",
                "Invalid token",
                exc.reason,
                headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                    f'error_description="{_header_text(exc.reason)}"'
                },
            )
        case KeysUnavailable():
            return from_exception(
                Unavailable(
                    IDENTITY_PROVIDER, "its signing keys cannot be fetched", cause=exc.cause
                )
            )
        case Refused() | CaseRefused():
            status, slug, title = REFUSAL_STATUS[exc.refusal]
            named = _LEADING_FIELD.match(exc.message)
            field = exc.field or (named.group(1) if named else None)
            return Problem(status, slug, title, exc.message, field=field)
        case RegistryInvalidInput():
            return invalid(
                [FieldError(field=f, detail=f"{f}: {r}", rule="registry") for f, r in exc.problems]
            )
        case RegistryError():
            status, slug, title = REFUSAL_STATUS[exc.refusal]
            # The registry starts a message about one field with "<field>: ".
            named = _LEADING_FIELD.match(exc.message)
            return Problem(
                status, slug, title, exc.message, field=named.group(1) if named else None
            )
        case Unavailable():
            # Our words only: the driver's text (exc.cause) goes to the log, never out.
            return Problem(
                503,
                "unavailable",
                f"{exc.service} unavailable",
                f"{exc.service}: {exc.detail}; retry in "
                f"{RETRY_AFTER_SECONDS} seconds with the same Idempotency-Key: "
                f"the request will have one effect",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        case UnreadableStatus():
            # The registry's damage, never the caller's input: a 500 that says so (it was a
            # 422 "invalid input" while it surfaced as the model's validation error).
            return Problem(
                500,
                "unreadable-record",
                "Record unreadable",
                f"the registry's record of {exc.dossier} cannot be read; nothing was changed "
                "and operations are alerted by the log (python -m ops reconcile repairs it)",
            )
        case BadCursor():
            return Problem(422, "invalid-input", "Invalid input", exc.detail, field="cursor")
        case _ if registry_unavailable(exc):
            # A route that read the pool itself and lost PostgreSQL: the same 503 as any.
            return from_exception(registry_down(exc))
        case StarletteHTTPException() if exc.status_code == 400:
            # FastAPI could not read the body as JSON at all (e.g. it is not UTF-8).
            return Problem(
                400,
                "malformed-json",
                "Malformed JSON",
                "the body is not JSON in UTF-8; send a JSON object",
            )
        case StarletteHTTPException():
            slug = {404: "no-such-endpoint", 405: "method-not-allowed", 413: "body-too-large"}.get(
                exc.status_code, "http-error"
            )
            detail = str(exc.detail)
            if exc.status_code == 405 and exc.headers:
                detail = f"method not allowed here; use {exc.headers.get('Allow', '')}"
            # A 405 carries `Allow`: the methods the path does take.
            return Problem(
                exc.status_code, slug, str(exc.detail), detail, headers=dict(exc.headers or {})
            )
    return Problem(500, "internal", "Internal error", "an unexpected error; it was logged")


def _header_text(text: str) -> str:
    """`text` as a quoted-string of a header (RFC 9110): printable ASCII, no quote or
    backslash (a token's `kid` may hold anything, and a header is sent as Latin-1)."""
    return "".join("'" if c == '"' else c if " " <= c <= "~" and c != "\\" else "?" for c in text)


def cause_of(exc: BaseException) -> str:
    """What the log says caused an error (never the caller): a service's own words, or the
    exception's type and message."""
    if isinstance(exc, Unavailable):
        return exc.cause or exc.detail
    if isinstance(exc, KeysUnavailable):
        return exc.cause
    if isinstance(
        exc,
        Problem
        | AuthError
        | Refused
        | CaseRefused
        | RegistryError
        | RequestValidationError
        | ValidationError
        | StarletteHTTPException
        | BadCursor,
    ):
        return ""  # the problem says it all; a refused input may hold personal data
    return f"{type(exc).__name__}: {exc}"[:300]


def _allowed(request: Request) -> str | None:
    """Every method the matched path takes (Starlette's 405 names only the first route's,
    and one path may be several routes: GET and PUT /providers/{n})."""
    path = getattr(request.scope.get("route"), "path", None)
    paths: dict[str, Any] = request.app.openapi().get("paths", {})
    methods = sorted(m.upper() for m in paths.get(path or "", {}))
    return ", ".join(methods) or None


async def handle(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
        allowed = _allowed(request)
        if allowed:
            exc = StarletteHTTPException(405, exc.detail, headers={"Allow": allowed})
    problem = from_exception(exc)
    facts = request.scope.setdefault("state", {}).setdefault("access_log", {})
    facts["problem"] = problem.slug
    if cause := cause_of(exc):
        facts["cause"] = cause
    return render(problem, instance=request.url.path)
