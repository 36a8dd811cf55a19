"""Sign-in with OpenID Connect (authorization code with PKCE, through authlib), the session,
and the CSRF token of every form.

The session is a signed cookie (HttpOnly, SameSite=Lax, Secure outside dev mode) holding
only the claims the API reads (sub, org, roles) and the CSRF token: no token of the
provider is kept, put in a URL or logged. The cookie is signed again on every answer, so
`web.idle_minutes` without a request ends it. Roles and organisation become an `Actor`
through the API's own code (`starter.auth.actor_from_claims`).
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from models.identity import Actor
from runtime.logging import get_logger
from runtime.settings import Settings
from starter.auth import AuthError, actor_from_claims
from starter.web.config import public_url

CALLBACK = "/aanmelden/terug"
_USER = "gebruiker"
_CSRF = "csrf"
_RETURN = "terug"
# The claims kept in the session: exactly those actor_from_claims reads.
_KEPT_CLAIMS = ("sub", "org", "roles")
# A local path to return to after sign-in: one leading slash, no scheme or host.
_LOCAL_PATH = re.compile(r"^/(?![/\\])[^\s\\]{0,500}$")

log = get_logger("starter.web")


class SignInNeeded(Exception):
    """No (or an ended) session: sign in, then come back to `return_to`."""

    def __init__(self, return_to: str) -> None:
        super().__init__(return_to)
        self.return_to = return_to


class CsrfRefused(Exception):
    """A form posted without its session's CSRF token (403 page)."""


def oauth_client(settings: Settings) -> Any:
    oauth = OAuth()
    web = settings.web
    issuer = (web.oidc_issuer or "").rstrip("/")
    return oauth.register(
        name="idp",
        client_id=web.oidc_client_id,
        client_secret=web.oidc_client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid", "code_challenge_method": "S256"},
    )


def signed_in(request: Request) -> Actor | None:
    claims = request.session.get(_USER)
    if not isinstance(claims, dict):
        return None
    try:
        return actor_from_claims(claims)
    except AuthError:
        return None


def require_user(request: Request) -> Actor:
    actor = signed_in(request)
    if actor is None:
        raise SignInNeeded(local_path(request.url.path + _query(request)))
    return actor


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


def csrf_token(request: Request) -> str:
    token = request.session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


async def posted_form(request: Request) -> tuple[Actor, FormData]:
    """The form of a signed-in user with its CSRF token checked. An ended session signs in
    again and comes back to the page the form was on (its hidden field `terug`)."""
    form = await request.form()
    actor = signed_in(request)
    if actor is None:
        back = form.get("terug")
        raise SignInNeeded(local_path(back if isinstance(back, str) else "/"))
    sent = form.get("csrf")
    expected = request.session.get(_CSRF)
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRefused()
    return actor, form


def local_path(path: str) -> str:
    return path if _LOCAL_PATH.match(path) else "/"


def sign_in_redirect(return_to: str) -> RedirectResponse:
    return RedirectResponse(f"/aanmelden?{urlencode({'terug': return_to})}", status_code=303)


def router(settings: Settings) -> APIRouter:
    from starter.web.render import page

    routes = APIRouter()
    idp = oauth_client(settings)
    callback_url = public_url(settings) + CALLBACK

    @routes.get("/aanmelden")
    async def sign_in(request: Request, terug: str = "/") -> Response:
        request.session.clear()  # a new sign-in never continues an old session
        request.session[_RETURN] = local_path(terug)
        redirect: Response = await idp.authorize_redirect(request, callback_url)
        return redirect

    @routes.get(CALLBACK)
    async def callback(request: Request) -> Response:
        return_to = local_path(str(request.session.get(_RETURN, "/")))
        try:
            token = await idp.authorize_access_token(request)
            claims = token.get("userinfo") or {}
            actor_from_claims(claims)  # refuses claims the API would refuse
        except (OAuthError, AuthError) as exc:
            request.session.clear()
            reason = exc.error if isinstance(exc, OAuthError) else "claims"
            log.info("web.sign_in.refused", reason=reason)
            refused = isinstance(exc, OAuthError) and exc.error == "access_denied"
            return page(
                request,
                "aanmelden_mislukt.html",
                {"title": "Aanmelden is niet gelukt", "refused": refused, "return_to": return_to},
                status=400 if not refused else 403,
            )
        request.session.clear()
        request.session[_USER] = {k: claims[k] for k in _KEPT_CLAIMS if k in claims}
        log.info("web.sign_in", roles=list(claims.get("roles") or []))
        return RedirectResponse(return_to, status_code=303)

    @routes.post("/afmelden")
    async def sign_out(request: Request) -> Response:
        await posted_form(request)
        request.session.clear()
        return RedirectResponse("/afgemeld", status_code=303)

    @routes.get("/afgemeld")
    async def signed_out(request: Request) -> Response:
        return page(request, "afgemeld.html", {"title": "U bent afgemeld"})

    return routes
