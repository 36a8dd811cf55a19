"""Whatever a caller puts in a token or a cursor, the answer is a refusal with a reason
(401, 403, 422) or the page asked for, never a 500: arbitrary headers and claims (signed with
the real key too, so the claims are read), and arbitrary cursors, signed ones included."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from starter.auth import cursor_key, dev_secret
from tests.fixtures.api import ORG, Api

T = TypeVar("T")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "sub": JSON | st.text(),
        "org": JSON | st.sampled_from(["0123456749", "0123.456.749", "BE0123456749", "x"]),
        "roles": JSON
        | st.lists(
            st.sampled_from(
                [
                    "provider",
                    "bec",
                    "reviewer:VOC",
                    "reviewer",
                    "reviewer:PC 999",
                    "department:x",
                    "x",
                ]
            )
        ),
        "exp": JSON,
        "nbf": JSON,
    },
)
ANSWERS = {200, 401, 403, 422}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _on(loop: asyncio.AbstractEventLoop, call: Awaitable[T]) -> T:
    return asyncio.run_coroutine_threadsafe(call, loop).result(30)  # type: ignore[arg-type]


async def _hypothesis(test: Any) -> None:
    """Runs a synchronous hypothesis test in a thread while this loop serves the app."""
    await asyncio.to_thread(test)


async def test_arbitrary_tokens_are_refused_never_a_500(api: Api) -> None:
    loop = asyncio.get_running_loop()
    secret = dev_secret(api.settings)
    base = {"iss": api.settings.auth.issuer, "aud": api.settings.auth.audience, "exp": 2**40}

    async def ask(token: str) -> httpx.Response:
        return await api.http.get("/dossiers", headers={"Authorization": f"Bearer {token}"})

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        header=st.dictionaries(st.text(max_size=5), JSON, max_size=4)
        | st.fixed_dictionaries(
            {"alg": JSON | st.sampled_from(["HS256", "RS256", "none"]), "kid": JSON}
        ),
        payload=JSON | CLAIMS,
        signature=st.binary(max_size=64),
        signed=st.booleans(),
        raw=st.text(max_size=40),
    )
    def check(header: Any, payload: Any, signature: bytes, signed: bool, raw: str) -> None:
        head = _b64(json.dumps(header).encode())
        body = _b64(
            json.dumps({**base, **payload} if isinstance(payload, dict) else payload).encode()
        )
        if signed:  # the real key: the claims themselves are what is judged
            head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
            signature = hmac.new(
                secret.encode(), f"{head}.{body}".encode(), hashlib.sha256
            ).digest()
        for token in (f"{head}.{body}.{_b64(signature)}", raw):
            sendable = token.isascii() and token.isprintable() and token.strip()
            answer = _on(loop, ask(token)) if sendable else None
            if answer is not None:
                assert answer.status_code in ANSWERS, (token, answer.status_code, answer.text)

    await _hypothesis(check)


async def test_arbitrary_cursors_are_refused_never_a_500(api: Api) -> None:
    loop = asyncio.get_running_loop()
    key = cursor_key(api.settings, "worklist")
    headers = api.auth("department")

    async def ask(path: str, params: dict[str, str]) -> httpx.Response:
        return await api.http.get(path, params=params, headers=headers)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payload=JSON, raw=st.text(max_size=60), after=st.text(max_size=25), signed=st.booleans())
    def check(payload: Any, raw: str, after: str, signed: bool) -> None:
        body = json.dumps(payload).encode()
        sig = hmac.new(key, body, hashlib.sha256).digest()[:16] if signed else b"forged"
        for cursor in (f"{_b64(body)}.{_b64(sig)}", raw):
            for path in ("/worklist", "/dossiers"):
                params = {"cursor": cursor} | ({"provider": ORG} if path == "/dossiers" else {})
                answer = _on(loop, ask(path, params))
                assert answer.status_code in ANSWERS, (path, cursor, answer.text)
                if answer.status_code == 422:
                    assert answer.json()["field"] == "cursor", answer.text
        feed = _on(loop, ask("/events", {"after": after}))
        assert feed.status_code in ANSWERS, (after, feed.text)

    await _hypothesis(check)
