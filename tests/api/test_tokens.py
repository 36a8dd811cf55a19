"""Every bad token is refused with 401 and a reason, and nothing is done."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from starter.auth import AuthError, TokenVerifier
from tests.fixtures.api import ORG, Api, application_body, production_settings


def _claims(settings: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": "an.peeters",
        "org": ORG,
        "roles": ["provider"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_tokens(settings: Any) -> dict[str, tuple[str, str]]:
    secret = settings.auth.dev_secret
    now = int(time.time())

    def hs(**changes: Any) -> str:
        return jwt.encode(_claims(settings, **changes), secret, algorithm="HS256")

    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(settings))}."
    odd_kid = f"{_b64({'alg': 'RS256', 'kid': {'a': 1}})}.{_b64(_claims(settings))}.c2ln"
    return {
        # name: (token, words the reason must contain)
        "expired": (hs(exp=now - 120, iat=now - 900, nbf=now - 900), "expired"),
        "not_yet_valid": (hs(nbf=now + 900), "not yet valid"),
        "wrong_signature": (
            jwt.encode(_claims(settings), "another-secret-of-32-bytes-or-more!!", "HS256"),
            "signature",
        ),
        "wrong_audience": (hs(aud="some-other-service"), "not meant for this service"),
        "wrong_issuer": (hs(iss="someone-else"), "not issued by"),
        "alg_none": (unsigned, "alg 'none'"),
        "missing_sub": (hs(sub=None), "'sub'"),
        "missing_exp": (hs(exp=None), "'exp'"),
        "provider_without_org": (hs(org=None), "'org'"),
        "malformed": ("not.a.jwt", "well-formed"),
        "reviewer_without_body": (hs(roles=["reviewer"]), "names its body"),
        "kid_not_a_string": (odd_kid, "well-formed"),
        "sub_with_nul": (hs(sub="an\x00peeters"), "NUL"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "expired",
        "not_yet_valid",
        "wrong_signature",
        "wrong_audience",
        "wrong_issuer",
        "alg_none",
        "missing_sub",
        "missing_exp",
        "provider_without_org",
        "malformed",
        "reviewer_without_body",
        "kid_not_a_string",
        "sub_with_nul",
    ],
)
async def test_bad_token_is_refused_and_nothing_is_done(api: Api, name: str) -> None:
    token, reason = _bad_tokens(api.settings)[name]
    title = f"Bad token {name} {uuid.uuid4().hex[:6]}"
    response = await api.http.post(
        "/applications",
        json=application_body(title=title),
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "urn:odb:problem:invalid-token"
    assert reason in response.json()["detail"]
    written = await api.pool.fetchval("SELECT count(*) FROM applications WHERE title = $1", title)
    assert written == 0


async def test_no_token_is_401(api: Api) -> None:
    response = await api.http.get("/dossiers")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


# ---- JWKS keys (production): algorithm chosen by the key, never by the token ----


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_verifier(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> TokenVerifier:
    jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update({"kid": "portal-2027", "use": "sig", "alg": "RS256"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return TokenVerifier(production_settings(path))


async def test_jwks_token_is_verified(
    api: Api, jwks_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(
        _claims(api.settings, roles=["reviewer:PC 200", "other-app:admin"]),
        rsa_key,
        algorithm="RS256",
        headers={"kid": "portal-2027"},
    )
    actor = await jwks_verifier.verify(token)
    assert actor.subject == "an.peeters"
    assert [(r.kind.value, r.body) for r in actor.roles] == [("reviewer", "PC 200")]


async def test_hmac_signed_with_the_public_key_is_refused(
    api: Api, jwks_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    """Algorithm confusion: the RSA public key used as an HS256 secret."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "portal-2027"})
    body = _b64(_claims(api.settings))
    import hashlib
    import hmac

    sig = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    token = f"{header}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
    with pytest.raises(AuthError, match="HS256 is not accepted"):
        await jwks_verifier.verify(token)


async def test_rsa_key_with_ec_algorithm_is_refused(api: Api, jwks_verifier: TokenVerifier) -> None:
    header = _b64({"alg": "ES256", "typ": "JWT", "kid": "portal-2027"})
    token = f"{header}.{_b64(_claims(api.settings))}.c2ln"
    with pytest.raises(AuthError, match="does not match the signing key"):
        await jwks_verifier.verify(token)


async def test_unknown_key_id_is_refused(
    api: Api, jwks_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(
        _claims(api.settings), rsa_key, algorithm="RS256", headers={"kid": "retired-2019"}
    )
    with pytest.raises(AuthError, match="no unique signing key"):
        await jwks_verifier.verify(token)
