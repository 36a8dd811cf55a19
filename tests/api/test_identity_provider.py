"""The identity provider's JWKS URL on a real HTTP server (pytest-httpserver on loopback): an
identity provider that is away is an outage, not a bad token. Never reached: 503 naming it, in
our words; reached once, then away: its tokens keep verifying with the keys fetched; a token
whose `kid` the keys lack: 401, its `kid` repeated at most 64 characters."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devstack.ports import free_port
from runtime.settings import Settings, load_settings
from starter import jwks
from starter.api.app import create_app
from starter.auth import SHOWN_MAX
from tests.fixtures.api import Api

KID = "portal-2027"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_set(key: rsa.RSAPrivateKey, kid: str = KID) -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": [jwk]}


@pytest.fixture
def idp() -> Iterator[HTTPServer]:
    """The identity provider's key endpoint, a server of this test's own (stopped at will)."""
    # A fixed port: the server comes back where it was.
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.start()
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()


def production(jwks_url: str) -> Settings:
    return load_settings(
        dev_mode=False,
        auth={"jwks": jwks_url, "dev_secret": None},
        api={"cursor_secret": secrets.token_urlsafe(32)},
    )


def token(settings: Settings, key: rsa.RSAPrivateKey, kid: str = KID) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": "els.claes",
        "roles": ["reviewer:VOC"],
        "iat": now,
        "exp": now + 600,
    }
    signed = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
    return {"Authorization": f"Bearer {signed}"}


@asynccontextmanager
async def portal(api: Api, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, client=api.env.client, pool=api.pool)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://odb.test"
    ) as http:
        yield http


def assert_names_the_identity_provider(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"].isdigit()
    assert "www-authenticate" not in answer.headers
    body = answer.json()
    assert body["type"] == "urn:odb:problem:unavailable"
    assert body["detail"].startswith("the identity provider: its signing keys cannot be fetched")
    for internal in ("Errno", "urlopen", "refused", "127.0.0.1", "timed out", "URLError"):
        assert internal not in answer.text


async def test_an_identity_provider_never_reached_is_a_503_naming_it(
    api: Api, rsa_key: rsa.RSAPrivateKey
) -> None:
    settings = production(f"http://127.0.0.1:{free_port()}/jwks")  # nothing listens there
    async with portal(api, settings) as http:
        for path in ("/worklist", "/events"):
            assert_names_the_identity_provider(
                await http.get(path, headers=token(settings, rsa_key))
            )


async def test_an_identity_provider_that_hangs_is_a_503_within_the_fetch_timeout(
    api: Api, rsa_key: rsa.RSAPrivateKey, idp: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwks, "FETCH_TIMEOUT_SECONDS", 0.5)
    release = threading.Event()

    def hang(_: Request) -> Response:
        release.wait(10)
        return Response(json.dumps(key_set(rsa_key)), content_type="application/json")

    idp.expect_request("/jwks").respond_with_handler(hang)
    settings = production(idp.url_for("/jwks"))
    try:
        async with portal(api, settings) as http:
            started = time.monotonic()
            answer = await http.get("/worklist", headers=token(settings, rsa_key))
            assert time.monotonic() - started < 2.0
            assert_names_the_identity_provider(answer)
    finally:
        release.set()


async def test_keys_fetched_once_keep_verifying_while_the_identity_provider_is_away(
    api: Api, rsa_key: rsa.RSAPrivateKey, idp: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every request asks for a fresh key set: each one meets the identity provider's absence.
    monkeypatch.setattr(jwks, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(jwks, "RETRY_SECONDS", 0.0)
    idp.expect_request("/jwks").respond_with_json(key_set(rsa_key))
    settings = production(idp.url_for("/jwks"))
    async with portal(api, settings) as http:
        first = await http.get("/worklist", headers=token(settings, rsa_key))
        assert first.status_code == 200, first.text
        idp.stop()
        for _ in range(3):
            answer = await http.get("/worklist", headers=token(settings, rsa_key))
            assert answer.status_code == 200, answer.text

        # A kid the kept keys lack, while the identity provider is away: a bad token.
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        unknown = await http.get("/worklist", headers=token(settings, other, "portal-2028"))
        assert unknown.status_code == 401, unknown.text
        assert "no unique signing key for kid 'portal-2028'" in unknown.json()["detail"]
        assert "Errno" not in unknown.text and "refused" not in unknown.text

        # Back, with a rotated key: its tokens verify, the old one's do not.
        idp.clear()
        idp.start()
        idp.expect_request("/jwks").respond_with_json(key_set(other, "portal-2028"))
        rotated = await http.get("/worklist", headers=token(settings, other, "portal-2028"))
        assert rotated.status_code == 200, rotated.text


@pytest.mark.parametrize("kid", ["k" * 20_000, "\u20ac" * 500, 'quote"back\\slash\nnew' * 50])
async def test_an_unknown_kid_is_repeated_at_most_64_characters(
    api: Api, rsa_key: rsa.RSAPrivateKey, idp: HTTPServer, kid: str
) -> None:
    idp.expect_request("/jwks").respond_with_json(key_set(rsa_key))
    settings = production(idp.url_for("/jwks"))
    async with portal(api, settings) as http:
        answer = await http.get("/worklist", headers=token(settings, rsa_key, kid))
    assert answer.status_code == 401, answer.text
    header = answer.headers["www-authenticate"]
    detail = answer.json()["detail"]
    assert len(header) < 200 and len(detail) < 200, (len(header), len(detail))
    assert detail.startswith("no unique signing key for kid ")
    assert len(detail.removeprefix("no unique signing key for kid ")) <= SHOWN_MAX
    assert header.isascii() and "\n" not in header


async def test_one_fetch_serves_a_burst_of_requests(
    api: Api, rsa_key: rsa.RSAPrivateKey, idp: HTTPServer
) -> None:
    idp.expect_request("/jwks").respond_with_json(key_set(rsa_key))
    settings = production(idp.url_for("/jwks"))
    async with portal(api, settings) as http:
        answers = await asyncio.gather(
            *(http.get("/worklist", headers=token(settings, rsa_key)) for _ in range(10))
        )
    assert {a.status_code for a in answers} == {200}
    assert len(idp.log) == 1
