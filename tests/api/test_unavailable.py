"""Temporal or PostgreSQL unreachable: 503 with Retry-After within seconds, not a hang; the
portal's retry with the same Idempotency-Key then completes the submission once."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from devstack.ports import free_port
from runtime.settings import Settings
from starter.api import create_app
from tests.fixtures.api import Api, application_body


def _settings(base: Settings, **overrides: Any) -> Settings:
    data = base.model_dump()
    for section, values in overrides.items():
        data[section] = {**data[section], **values}
    return Settings.model_validate(data)


async def _submit(app: Any, api: Api, key: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://odb.test"
    ) as http:
        return await http.post(
            "/applications", json=body, headers={**api.auth("provider"), "Idempotency-Key": key}
        )


async def test_postgres_unreachable_is_503(api: Api) -> None:
    dead = _settings(
        api.settings, postgres={"url": f"postgresql://postgres@127.0.0.1:{free_port()}/odb"}
    )
    app = create_app(dead, client=api.env.client)
    started = time.monotonic()
    response = await _submit(app, api, str(uuid.uuid4()), application_body())
    assert time.monotonic() - started < 10
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert "PostgreSQL" in response.json()["detail"]


async def test_temporal_unreachable_is_503_and_the_retry_completes_once(api: Api) -> None:
    dead = _settings(api.settings, temporal={"address": f"127.0.0.1:{free_port()}"})
    key = str(uuid.uuid4())
    body = application_body()
    started = time.monotonic()
    response = await _submit(create_app(dead, pool=api.pool), api, key, body)
    assert time.monotonic() - started < 10
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert "Temporal" in response.json()["detail"]

    retried = await api.http.post(
        "/applications", json=body, headers={**api.auth("provider"), "Idempotency-Key": key}
    )
    assert retried.status_code == 200, retried.text  # the dossier existed; now its case runs
    dossier = retried.json()["dossier"]
    status = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "under_review"
    count = await api.pool.fetchval(
        "SELECT count(*) FROM applications WHERE title = $1", body["title"]
    )
    assert count == 1
