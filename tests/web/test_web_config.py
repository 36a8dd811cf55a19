"""The web application refuses to start half-configured, naming the setting; outside dev
mode its cookie is Secure and plain http to a provider elsewhere is refused."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, cast

import httpx
import pytest
from itsdangerous import TimestampSigner
from starlette.middleware.sessions import SessionMiddleware

from runtime.settings import ConfigError, load_settings
from starter.web.app import SESSION_COOKIE, create_app, serve
from starter.web.config import check_web_config

CLIENT = {
    "oidc_issuer": "https://login.example.be/realms/vlaanderen",
    "oidc_client_id": "odb-web",
    "oidc_client_secret": "s" * 32,
}


def test_a_half_configured_client_is_refused_naming_what_is_missing() -> None:
    settings = load_settings(web={"oidc_issuer": CLIENT["oidc_issuer"]})
    with pytest.raises(ConfigError) as refused:
        check_web_config(settings)
    assert "ODB_WEB__OIDC_CLIENT_ID" in str(refused.value)
    assert "ODB_WEB__OIDC_CLIENT_SECRET" in str(refused.value)
    assert "half-configured" in str(refused.value)


def test_outside_dev_mode_a_session_secret_and_https_are_required() -> None:
    with pytest.raises(ConfigError, match="ODB_WEB__SESSION_SECRET"):
        check_web_config(load_settings(dev_mode=False, web=CLIENT))
    plain = {**CLIENT, "oidc_issuer": "http://login.example.be", "session_secret": "x" * 32}
    with pytest.raises(ConfigError, match="plain http"):
        check_web_config(load_settings(dev_mode=False, web=plain))


def test_outside_dev_mode_the_session_cookie_is_secure() -> None:
    settings = load_settings(dev_mode=False, web={**CLIENT, "session_secret": "x" * 32})
    app = create_app(settings)
    [session] = [m for m in app.user_middleware if cast(Any, m.cls) is SessionMiddleware]
    assert session.kwargs["https_only"] is True
    assert session.kwargs["session_cookie"] == SESSION_COOKIE


def test_the_process_stops_at_start_naming_the_setting() -> None:
    with pytest.raises(SystemExit) as stopped:
        serve(load_settings(web={"oidc_client_id": "odb-web"}))
    said = str(stopped.value)
    assert said.startswith("the web application cannot start:")
    assert "ODB_WEB__OIDC_ISSUER" in said and "ODB_WEB__OIDC_CLIENT_SECRET" in said


async def test_a_session_idle_longer_than_its_limit_is_signed_in_again() -> None:
    settings = load_settings(dev_mode=False, web={**CLIENT, "session_secret": "x" * 32})
    app = create_app(settings)
    idle = settings.web.idle_minutes * 60

    def cookie(age_seconds: int) -> str:
        class Then(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) - age_seconds

        claims = {"gebruiker": {"sub": "els.vos", "roles": ["reviewer:VOC"]}}
        data = base64.b64encode(json.dumps(claims).encode())
        return Then("x" * 32).sign(data).decode()

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://odb.test") as http:
        fresh = await http.get("/", cookies={SESSION_COOKIE: cookie(idle - 60)})
        assert fresh.headers["location"] == "/beoordelen"
        stale = await http.get("/beoordelen", cookies={SESSION_COOKIE: cookie(idle + 60)})
        assert stale.status_code == 303
        assert stale.headers["location"] == "/aanmelden?terug=%2Fbeoordelen"
