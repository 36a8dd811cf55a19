"""Every error as a Dutch page. An outage says which part is down and that nothing was
lost (the same classification as the API's 503, starter/api/problems.py); a dossier the
user may not see is the same page, word for word, as one that does not exist."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from models.errors import Refusal
from registry.errors import RegistryError
from rules.guards import CaseRefused
from runtime.logging import get_logger
from starter.api.problems import Problem, cause_of
from starter.client import (
    IDENTITY_PROVIDER,
    REGISTRY,
    TEMPORAL,
    Refused,
    Unavailable,
    registry_down,
)
from starter.cursors import BadCursor
from starter.jwks import KeysUnavailable
from starter.registry_reads import is_unavailable as registry_unavailable
from starter.web.render import page
from starter.web.signin import CsrfRefused, SignInNeeded, sign_in_redirect

log = get_logger("starter.web")

# Which part is down, in the words of the page.
_PART = {
    TEMPORAL: "De procesmotor (Temporal)",
    REGISTRY: "De databank (PostgreSQL)",
    IDENTITY_PROVIDER: "De aanmelddienst",
}


def not_found(request: Request, what: str = "Deze pagina") -> Response:
    return page(request, "niet_gevonden.html", {"title": "Niet gevonden", "what": what}, status=404)


def forbidden(request: Request, detail: str = "") -> Response:
    return page(request, "geen_toegang.html", {"title": "Geen toegang", "detail": detail}, 403)


def outage(request: Request, exc: Unavailable) -> Response:
    log.warning("web.unavailable", service=exc.service, cause=cause_of(exc), path=request.url.path)
    response = page(
        request,
        "storing.html",
        {"title": "Tijdelijke storing", "part": _PART.get(exc.service, exc.service)},
        status=503,
    )
    response.headers["Retry-After"] = "5"
    return response


# The exception types `handle` turns into pages (besides any other, a 500 page).
HANDLED: tuple[type[Exception], ...] = (
    Unavailable,
    KeysUnavailable,
    Refused,
    CaseRefused,
    Problem,
    RegistryError,
    StarletteHTTPException,
    BadCursor,
    RequestValidationError,
)


async def handle(request: Request, exc: Exception) -> Response:
    match exc:
        case SignInNeeded():
            return sign_in_redirect(exc.return_to)
        case CsrfRefused():
            return page(request, "csrf.html", {"title": "Formulier verlopen"}, status=403)
        case Unavailable():
            return outage(request, exc)
        case KeysUnavailable():
            return outage(request, Unavailable(IDENTITY_PROVIDER, "keys", cause=exc.cause))
        case Refused() | CaseRefused() if exc.refusal == Refusal.NOT_FOUND:
            return not_found(request)
        case Refused() | CaseRefused() if exc.refusal == Refusal.FORBIDDEN:
            return forbidden(request, exc.nl)
        case Problem() if exc.status == 403:
            return forbidden(request, exc.detail)
        case RegistryError() if exc.refusal == Refusal.NOT_FOUND:
            return not_found(request)
        case BadCursor() | RequestValidationError():
            # An address changed by hand (a page cursor, a query value): no such page.
            return not_found(request)
        case StarletteHTTPException() if exc.status_code == 404:
            return not_found(request)
        case StarletteHTTPException() if exc.status_code == 405:
            return page(request, "fout.html", {"title": "Niet mogelijk"}, status=405)
        case _ if registry_unavailable(exc):
            return outage(request, registry_down(exc))
    log.error("web.error", path=request.url.path, cause=cause_of(exc))
    return page(request, "fout.html", {"title": "Er ging iets mis"}, status=500)
