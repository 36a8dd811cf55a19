"""Verifies the portal's signed token and turns its claims into an `Actor`.

Token format (JWT, compact form):
    header  {"alg": "RS256" | "ES256" | "EdDSA" ... (JWKS keys), or "HS256" (dev secret only),
             "kid": "<key id in the JWKS>"}
    claims  iss  = settings.auth.issuer       aud = settings.auth.audience
            sub  = the user (opaque id)        exp = expiry (required), nbf/iat optional
            org  = enterprise number of the organisation the user acts for (10 digits,
                   dots and BE allowed); required with the role "provider"
            roles = list of strings: "provider", "reviewer:VOC", "reviewer:PC 200", "bec",
                    "department"; roles of other applications are ignored.

Algorithms are chosen by the key, never by the token: a JWKS key allows only the algorithms of
its key type, and HS256 is accepted only in dev mode with a dev secret (so an RSA public key
can never be used as an HMAC secret, and `alg: none` is never accepted). Outside dev mode the
JWKS is the only key source, and a configured dev secret stops the process at start
(`check_auth_config`): the secret of a dev stack works nowhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWK, PyJWKSet
from pydantic import ValidationError

from models.enterprise import normalise_enterprise_number
from models.identity import Actor, Role, RoleKind
from runtime.settings import ConfigError, Settings
from starter.jwks import JwksKeys

LEEWAY_SECONDS = 30
HMAC_ALGORITHMS = ("HS256",)
_ALGORITHMS_BY_KEY_TYPE: dict[str, tuple[str, ...]] = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}
_REQUIRED = ("exp", "iss", "aud", "sub")


class AuthError(Exception):
    """The token cannot be trusted; `reason` says why in plain words (401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Keys:
    jwks: PyJWKSet | None
    remote: JwksKeys | None
    secret: str | None


# What of a token's own header an answer repeats: enough to recognise it, never all of it.
SHOWN_MAX = 64


def shown(value: object) -> str:
    """A value from an unverified token, quoted for an answer, cut at SHOWN_MAX characters."""
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else f"{text[: SHOWN_MAX - 1]}…"


# The dev stack's signing secret, made by `make run` in its state folder (devstack/).
DEV_SECRET_FILE = "dev-secret"
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_auth_config(settings: Settings) -> None:
    """Stops a process at start when its key sources are ambiguous or missing: outside dev
    mode the identity provider's JWKS is the only key source and the dev secret must be
    absent; in dev mode exactly one of the two. `ConfigError` names the setting."""
    auth = settings.auth
    if settings.dev_mode:
        if auth.jwks and auth.dev_secret:
            raise ConfigError(
                "auth.jwks and auth.dev_secret are both set: which tokens count would be "
                "ambiguous; in dev mode set one of them (ODB_AUTH__JWKS or ODB_AUTH__DEV_SECRET)"
            )
        if not (auth.jwks or auth.dev_secret):
            raise ConfigError(
                "no key source: set auth.dev_secret (the dev stack sets ODB_AUTH__DEV_SECRET) "
                "or auth.jwks"
            )
        return
    if auth.dev_secret:
        raise ConfigError(
            "auth.dev_secret is set but dev mode is off: a production process never accepts "
            "dev tokens; remove auth.dev_secret (ODB_AUTH__DEV_SECRET) and configure auth.jwks"
        )
    if not auth.jwks:
        raise ConfigError(
            "auth.jwks is not set: outside dev mode the identity provider's public keys are "
            "the only key source; set ODB_AUTH__JWKS to a JWKS file path or https URL"
        )
    jwks_url = urlsplit(auth.jwks)
    if jwks_url.scheme == "http" and jwks_url.hostname not in _LOOPBACK:
        raise ConfigError(
            f"auth.jwks: {auth.jwks} is plain http; keys fetched without TLS can be replaced on "
            "the way: use an https URL (or a file)"
        )
    if not settings.api.cursor_secret:
        raise ConfigError(
            "api.cursor_secret is not set: outside dev mode page cursors are signed with a "
            "secret of their own; set ODB_API__CURSOR_SECRET to at least 32 random characters"
        )


def dev_secret(settings: Settings) -> str:
    """The dev stack's HS256 secret, for minting dev tokens: the configured one in dev mode,
    else the one the dev stack of this checkout made (`<state>/dev-secret`). Outside dev mode
    and without a dev stack there is none: `ConfigError` says what to do."""
    if settings.dev_mode and settings.auth.dev_secret:
        return settings.auth.dev_secret
    path = settings.state_path / DEV_SECRET_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    raise ConfigError(
        "dev tokens exist only in dev mode: start the dev stack (`make run` makes its secret in "
        f"{path}), or set ODB_DEV_MODE=1 with ODB_AUTH__DEV_SECRET; production tokens come "
        "from the identity provider"
    )


def make_dev_secret(state: Path) -> str:
    """The dev stack's secret in its state folder, made once (random, readable by its owner
    only) and kept, so tokens minted before a restart stay valid."""
    path = state / DEV_SECRET_FILE
    state.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()


def cursor_key(settings: Settings, purpose: str) -> bytes:
    """The HMAC key of one kind of cursor: from api.cursor_secret, or in dev mode from the
    dev secret. Never from a public value (issuer, audience)."""
    secret = settings.api.cursor_secret
    if not secret and settings.dev_mode and settings.auth.dev_secret:
        secret = settings.auth.dev_secret
    if not secret:
        raise ConfigError("api.cursor_secret is not set (required outside dev mode)")
    return hashlib.sha256(f"odb-{purpose}-cursor|".encode() + secret.encode()).digest()


class TokenVerifier:
    def __init__(self, settings: Settings, project_root: Path | None = None) -> None:
        check_auth_config(settings)
        auth = settings.auth
        self._settings = auth
        jwks: PyJWKSet | None = None
        remote: JwksKeys | None = None
        if auth.jwks:
            if auth.jwks.startswith(("https://", "http://")):
                remote = JwksKeys(auth.jwks)
            else:
                path = Path(auth.jwks)
                if not path.is_absolute() and project_root is not None:
                    path = project_root / path
                try:
                    jwks = PyJWKSet.from_json(path.read_text(encoding="utf-8"))
                except (OSError, jwt.PyJWTError, ValueError) as exc:
                    raise ConfigError(f"auth.jwks: cannot read a JWKS from {path}: {exc}") from exc
        # The dev secret counts in dev mode only (check_auth_config refuses it elsewhere).
        secret = auth.dev_secret if settings.dev_mode else None
        self._keys = _Keys(jwks, remote, secret or None)

    async def verify(self, token: str) -> Actor:
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            # PyJWT refuses a non-string `kid` with InvalidTokenError, not DecodeError.
            raise AuthError(f"the token is not a well-formed JWT: {exc}") from exc
        alg = header.get("alg")
        key, allowed = await self._key_for(alg, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(allowed),
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": list(_REQUIRED)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the token has expired; sign in again") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("the token is not yet valid (nbf/iat in the future)") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError(
                f"the token is not meant for this service (aud must be {self._settings.audience!r})"
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError(f"the token was not issued by {self._settings.issuer!r}") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"the token lacks the required claim {exc.claim!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("the token's signature does not verify") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the token is invalid: {exc}") from exc
        except (ValueError, TypeError) as exc:
            # A key or signature the crypto library cannot even read (wrong length, type).
            raise AuthError("the token's signature cannot be read") from exc
        return actor_from_claims(claims)

    async def _key_for(self, alg: object, kid: object) -> tuple[Any, tuple[str, ...]]:
        if not isinstance(alg, str) or alg.lower() == "none":
            raise AuthError("unsigned tokens (alg 'none') are not accepted")
        if alg in HMAC_ALGORITHMS:
            if self._keys.secret is None:
                raise AuthError(f"algorithm {alg} is not accepted here")
            return self._keys.secret, HMAC_ALGORITHMS
        jwk = await self._jwk(kid if isinstance(kid, str) else None)
        allowed = _ALGORITHMS_BY_KEY_TYPE.get(jwk.key_type or "", ())
        if alg not in allowed:
            raise AuthError(
                f"algorithm {shown(alg)} does not match the signing key ({jwk.key_type})"
            )
        return jwk, (alg,)

    async def _jwk(self, kid: str | None) -> PyJWK:
        if self._keys.remote is not None:
            candidates = await self._keys.remote.candidates(kid)
        elif self._keys.jwks is not None:
            candidates = [k for k in self._keys.jwks if kid is None or k.key_id == kid]
        else:
            raise AuthError("only HS256 tokens signed with the dev secret are accepted here")
        if len(candidates) != 1:
            if kid is None:
                raise AuthError("the token has no 'kid' header and several keys exist")
            raise AuthError(f"no unique signing key for kid {shown(kid)}")
        return candidates[0]


def actor_from_claims(claims: dict[str, Any]) -> Actor:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise AuthError("the token's 'sub' claim must be a non-empty string")
    raw_roles = claims.get("roles", [])
    if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
        raise AuthError("the token's 'roles' claim must be a list of strings")
    roles = tuple(role for r in raw_roles if (role := parse_role(r)) is not None)
    org = claims.get("org")
    organisation: str | None = None
    if org is not None:
        if not isinstance(org, str):
            raise AuthError("the token's 'org' claim must be a string (enterprise number)")
        try:
            organisation = normalise_enterprise_number(org)
        except ValueError as exc:
            raise AuthError(f"the token's 'org' claim: {exc}") from exc
    if organisation is None and any(r.kind == RoleKind.PROVIDER for r in roles):
        raise AuthError("the token lacks the claim 'org', required with the role 'provider'")
    try:
        return Actor(subject=sub.strip(), organisation=organisation, roles=roles)
    except ValidationError as exc:
        raise AuthError(f"the token's claims are not usable: {exc.errors()[0]['msg']}") from exc


def parse_role(text: str) -> Role | None:
    """`reviewer:PC 200` -> Role(reviewer, "PC 200"); roles of other applications -> None."""
    kind_text, _, body = text.partition(":")
    try:
        kind = RoleKind(kind_text.strip().lower())
    except ValueError:
        return None
    if kind == RoleKind.REVIEWER:
        if not body.strip():
            raise AuthError(f"role {text!r}: a reviewer role names its body, e.g. 'reviewer:VOC'")
        try:
            return Role(kind=kind, body=body)
        except ValidationError as exc:
            raise AuthError(f"role {text!r}: {exc.errors()[0]['msg']}") from exc
    if body:
        raise AuthError(f"role {text!r}: only the reviewer role takes a body")
    return Role(kind=kind)


def role_text(role: Role) -> str:
    return f"{role.kind.value}:{role.body}" if role.body else role.kind.value


def mint_dev_token(
    settings: Settings,
    subject: str,
    *,
    org: str | None = None,
    roles: tuple[str, ...] = (),
    ttl_seconds: int = 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    """An HS256 token signed with the dev secret: for tests, the demo and local curl calls.
    Refused (`ConfigError`) outside dev mode; a production API refuses such tokens anyway."""
    secret = dev_secret(settings)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "roles": list(roles),
    }
    if org is not None:
        claims["org"] = org
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm="HS256")
