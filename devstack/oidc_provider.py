"""The dev stack's OpenID Connect provider: a real authorization-code flow with PKCE, signed
ID tokens (RS256) and a JWKS, on loopback, with a page to choose who signs in. The web
application talks to it exactly as to the department's provider (the production code path);
only the choice of person replaces a password.

`python -m devstack.oidc_provider --port 8002 --client-id odb-web --client-secret ...
--redirect-uri http://127.0.0.1:8001/aanmelden/terug` (the dev stack starts it so). Tests
start `create_app` in-process (tests/fixtures/web.py).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import html
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

DEV_CLIENT_ID = "odb-web"
CLIENT_SECRET_FILE = "oidc-client-secret"
CODE_SECONDS = 60
ID_TOKEN_SECONDS = 300


@dataclass(frozen=True)
class Persona:
    label: str  # who this is, on the page to choose
    sub: str
    org: str | None
    roles: tuple[str, ...]


# The dev stack's people: the demo's and the tests' organisations and roles
# (starter/cli/demo.py PROVIDERS, tests/fixtures/api.py PERSONAS use the same keys).
PERSONAS: dict[str, Persona] = {
    "provider": Persona(
        "Aanbieder van organisatie A (Opleidingscentrum Vooruit vzw, 0123.456.749)",
        "an.peeters",
        "0123456749",
        ("provider",),
    ),
    "other_provider": Persona(
        "Aanbieder van organisatie B (0203.201.340)", "bart.claes", "0203201340", ("provider",)
    ),
    "voc_reviewer": Persona("Beoordelaar VOC", "els.vos", None, ("reviewer:VOC",)),
    "pc200_reviewer": Persona("Beoordelaar PC 200", "jan.maes", None, ("reviewer:PC 200",)),
    "bec": Persona("Secretariaat van de beroepscommissie (BEC)", "lien.bec", None, ("bec",)),
    "department": Persona("Departement WSE", "tom.wse", None, ("department",)),
    "no_role": Persona("Iemand zonder rol", "kim.geenrol", "0123456749", ()),
}


@dataclass
class _Grant:
    persona: Persona
    redirect_uri: str
    nonce: str | None
    challenge: str
    expires: float


@dataclass
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    codes: dict[str, _Grant] = field(default_factory=dict)
    # Who can sign in here (tests may add someone, e.g. a reviewer of a body without cases).
    personas: dict[str, Persona] = field(default_factory=lambda: dict(PERSONAS))

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": grant.persona.sub,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
            "name": grant.persona.label,
            "roles": list(grant.persona.roles),
        }
        if grant.persona.org:
            claims["org"] = grant.persona.org
        if grant.nonce:
            claims["nonce"] = grant.nonce
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


def client_secret_file(state: Path) -> Path:
    """The web application's client secret at this provider, made once in the state folder
    (readable by its owner only), as the dev secret is."""
    path = state / CLIENT_SECRET_FILE
    state.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path


def client_secret(state: Path) -> str:
    return client_secret_file(state).read_text(encoding="utf-8").strip()


def create_app(provider: Provider) -> Starlette:
    async def metadata(_: Request) -> Response:
        i = provider.issuer
        return JSONResponse(
            {
                "issuer": i,
                "authorization_endpoint": f"{i}/authorize",
                "token_endpoint": f"{i}/token",
                "jwks_uri": f"{i}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": ["openid"],
                "claims_supported": ["sub", "name", "org", "roles"],
            }
        )

    async def jwks(_: Request) -> Response:
        return JSONResponse(provider.jwks())

    async def authorize(request: Request) -> Response:
        source = request.query_params if request.method == "GET" else await request.form()
        params = {k: v for k, v in source.items() if isinstance(v, str)}
        problem = _check_request(provider, params)
        if problem:
            return HTMLResponse(_page("Aanvraag geweigerd", f"<p>{html.escape(problem)}</p>"), 400)
        if request.method == "GET":
            return HTMLResponse(_chooser(provider, params))
        back = params["redirect_uri"]
        state = params.get("state", "")
        if params.get("weigeren"):
            return _redirect(back, error="access_denied", state=state)
        persona = provider.personas.get(params.get("persona", ""))
        if persona is None:
            return HTMLResponse(_page("Onbekende persoon", "<p>Kies een persoon.</p>"), 400)
        code = secrets.token_urlsafe(32)
        provider.codes[code] = _Grant(
            persona,
            back,
            params.get("nonce"),
            params["code_challenge"],
            time.monotonic() + CODE_SECONDS,
        )
        return _redirect(back, code=code, state=state)

    async def token(request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        client_id, secret = _client_auth(request, form)
        if client_id != provider.client_id or not hmac.compare_digest(
            secret.encode(), provider.client_secret.encode()
        ):
            return _token_error("invalid_client", 401)
        grant = provider.codes.pop(form.get("code", ""), None)
        if grant is None or grant.expires < time.monotonic():
            return _token_error("invalid_grant")
        if form.get("grant_type") != "authorization_code" or form.get("redirect_uri") != (
            grant.redirect_uri
        ):
            return _token_error("invalid_grant")
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return _token_error("invalid_grant")
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(32),
                "token_type": "Bearer",
                "expires_in": ID_TOKEN_SECONDS,
                "id_token": provider.id_token(grant),
            },
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", metadata),
            Route("/jwks", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
        ]
    )


def _check_request(provider: Provider, params: dict[str, str]) -> str | None:
    if params.get("client_id") != provider.client_id:
        return "onbekende client_id"
    if params.get("redirect_uri") not in provider.redirect_uris:
        return "redirect_uri is niet geregistreerd voor deze client"
    if params.get("response_type") != "code":
        return "alleen response_type=code"
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        return "PKCE met S256 is verplicht"
    return None


def _client_auth(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        from urllib.parse import unquote

        raw = base64.b64decode(header[6:]).decode()
        user, _, password = raw.partition(":")
        return unquote(user), unquote(password)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


def _token_error(error: str, status: int = 400) -> Response:
    return JSONResponse({"error": error}, status_code=status)


def _redirect(uri: str, **params: str) -> Response:
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{sep}{urlencode(params)}", status_code=302)


_KEPT = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


def _chooser(provider: Provider, params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(str(params[k]))}">'
        for k in _KEPT
        if k in params
    )
    items = "".join(
        f'<li><form method="post" action="/authorize">{hidden}'
        f'<input type="hidden" name="persona" value="{key}">'
        f'<button type="submit">Aanmelden als {html.escape(p.label)}</button></form></li>'
        for key, p in provider.personas.items()
    )
    refuse = (
        f'<form method="post" action="/authorize">{hidden}'
        '<input type="hidden" name="weigeren" value="1">'
        '<button type="submit">Aanmelding weigeren</button></form>'
    )
    return _page(
        "Wie meldt zich aan?",
        "<p>Dit is de aanmeldpagina van de ontwikkelomgeving: kies een persoon.</p>"
        f"<ul>{items}</ul><h2>Of</h2>{refuse}",
    )


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="nl-BE"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><main><h1>{title}</h1>{body}</main></body></html>"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret-file", required=True)
    parser.add_argument("--redirect-uri", action="append", required=True)
    args = parser.parse_args()
    with open(args.client_secret_file, encoding="utf-8") as handle:
        secret = handle.read().strip()
    provider = Provider(
        issuer=f"http://{args.host}:{args.port}",
        client_id=args.client_id,
        client_secret=secret,
        redirect_uris=tuple(args.redirect_uri),
    )
    uvicorn.run(create_app(provider), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
