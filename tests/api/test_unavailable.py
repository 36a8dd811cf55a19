"""Temporal or PostgreSQL unreachable: 503 with Retry-After within seconds, naming what is
down, not a hang and never a 500 (a submission while only Temporal is down is accepted: its
case starts later); the portal's retry with the same Idempotency-Key completes it once.

Each PostgreSQL failure class is produced for real on the test server, in a database of its
own (or with a role of its own), so the other tests' registry is never disturbed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest_asyncio

from devstack.ports import free_port
from registry.db import create_pool
from registry.migrate import migrate
from runtime.settings import Settings
from starter.api.app import create_app
from tests.fixtures.api import ORG, Api, application_body


def _settings(base: Settings, **overrides: Any) -> Settings:
    data = base.model_dump()
    for section, values in overrides.items():
        data[section] = {**data[section], **values}
    return Settings.model_validate(data)


def _dsn(base: str, *, database: str | None = None, user: str | None = None, **query: str) -> str:
    parts = urlsplit(base)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}@{netloc.rsplit('@', 1)[-1]}"
    path = f"/{database}" if database else parts.path
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit((parts.scheme, netloc, path, extra or parts.query, ""))


async def _call(app: Any, api: Api, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://odb.test"
    ) as http:
        return await http.request(method, path, **kwargs)


async def _submit(app: Any, api: Api, key: str, body: dict[str, Any]) -> httpx.Response:
    return await _call(
        app,
        api,
        "POST",
        "/applications",
        json=body,
        headers={**api.auth("provider"), "Idempotency-Key": key},
    )


def _names_the_registry(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    problem = response.json()
    assert problem["type"] == "urn:odb:problem:unavailable"
    assert "registry (PostgreSQL)" in problem["detail"], problem
    assert "Temporal" not in problem["detail"], problem


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outage_db(api: Api) -> AsyncIterator[str]:
    """A migrated database of this module's own, which the tests make unavailable."""
    name = f"odb_outage_{uuid.uuid4().hex[:8]}"
    await api.pool.execute(f"CREATE DATABASE {name}")
    dsn = _dsn(api.settings.postgres.url or "", database=name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield dsn
    await api.pool.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    await api.pool.execute(f"DROP DATABASE {name} WITH (FORCE)")


async def test_postgres_refusing_connections_is_503(api: Api) -> None:
    dead = _settings(
        api.settings, postgres={"url": f"postgresql://postgres@127.0.0.1:{free_port()}/odb"}
    )
    app = create_app(dead, client=api.env.client)
    started = time.monotonic()
    response = await _submit(app, api, str(uuid.uuid4()), application_body())
    assert time.monotonic() - started < 10
    _names_the_registry(response)


async def test_database_not_accepting_connections_is_503(api: Api, outage_db: str) -> None:
    """SQLSTATE 55000, what the issue's 30-second outage produced 319 HTTP 500s with."""
    name = urlsplit(outage_db).path.lstrip("/")
    await api.pool.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    try:
        app = create_app(_settings(api.settings, postgres={"url": outage_db}), api.env.client)
        response = await _call(app, api, "GET", "/dossiers", headers=api.auth("provider"))
    finally:
        await api.pool.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    _names_the_registry(response)
    assert "not currently accepting connections" not in response.json()["detail"]  # our words


async def test_too_many_connections_is_503(api: Api, outage_db: str) -> None:
    """SQLSTATE 53300: a role whose connection limit is reached."""
    role = f"odb_limited_{uuid.uuid4().hex[:8]}"
    await api.pool.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    try:
        dsn = _dsn(outage_db, user=role)
        app = create_app(_settings(api.settings, postgres={"url": dsn}), api.env.client)
        response = await _call(app, api, "GET", "/dossiers", headers=api.auth("provider"))
    finally:
        await api.pool.execute(f"DROP ROLE {role}")
    _names_the_registry(response)
    assert "too many connections" not in response.json()["detail"]  # our words only


async def test_connection_terminated_mid_query_is_503(api: Api, outage_db: str) -> None:
    """SQLSTATE 57P01 (admin shutdown): the API's query is waiting on a lock when its
    server process is terminated, as in a fast shutdown or a failover."""
    tag = f"odb_api_{uuid.uuid4().hex[:6]}"
    app = create_app(
        _settings(api.settings, postgres={"url": _dsn(outage_db, application_name=tag)}),
        api.env.client,
    )
    locker = await asyncpg.connect(outage_db)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE case_rows IN ACCESS EXCLUSIVE MODE")
            request = asyncio.create_task(
                _call(app, api, "GET", "/dossiers", headers=api.auth("provider"))
            )
            for _ in range(100):
                # From another connection: pg_stat_activity is one snapshot per transaction.
                killed = await api.pool.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = $1 AND wait_event_type = 'Lock'",
                    tag,
                )
                if killed:
                    break
                await asyncio.sleep(0.05)
            assert killed, "the API's query never waited on the lock"
            response = await request
    finally:
        await locker.close()
    _names_the_registry(response)


async def test_dropped_idle_connection_is_replaced(api: Api, outage_db: str) -> None:
    """A pooled connection the server dropped while idle (restart, idle timeout, network)
    is noticed by the pool and replaced: the next request is answered as usual."""
    tag = f"odb_api_{uuid.uuid4().hex[:6]}"
    pool = await create_pool(api.settings, _dsn(outage_db, application_name=tag), min_size=1)
    app = create_app(api.settings, api.env.client, pool)
    try:
        first = await _call(app, api, "GET", "/dossiers", headers=api.auth("provider"))
        assert first.status_code == 200, first.text
        dropped = await api.pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1",
            tag,
        )
        assert dropped == 1
        await asyncio.sleep(0.2)
        again = await _call(app, api, "GET", "/dossiers", headers=api.auth("provider"))
        assert again.status_code == 200, again.text
    finally:
        await pool.close()


async def test_no_free_connection_in_time_is_503(api: Api, outage_db: str) -> None:
    """Every connection of the pool is busy past the acquire deadline."""
    pool = await create_pool(api.settings, outage_db, min_size=1, max_size=1)
    app = create_app(api.settings, api.env.client, pool)
    try:
        async with pool.acquire():
            started = time.monotonic()
            response = await _call(app, api, "GET", "/dossiers", headers=api.auth("provider"))
            assert time.monotonic() - started < 10
    finally:
        await pool.close()
    _names_the_registry(response)


async def test_temporal_unreachable_accepts_the_submission_and_a_retry_completes_once(
    api: Api,
) -> None:
    """The submission stands (202, its case started later: tests/api/test_case_starts.py);
    a retry with the same key once Temporal answers starts it at once, one dossier."""
    dead = _settings(api.settings, temporal={"address": f"127.0.0.1:{free_port()}"})
    key = str(uuid.uuid4())
    body = application_body()
    started = time.monotonic()
    response = await _submit(create_app(dead, pool=api.pool), api, key, body)
    assert time.monotonic() - started < 10
    assert response.status_code == 202, response.text
    assert response.json()["case_started"] is False

    retried = await api.http.post(
        "/applications", json=body, headers={**api.auth("provider"), "Idempotency-Key": key}
    )
    assert retried.status_code == 200, retried.text  # the dossier existed; now its case runs
    assert retried.json()["dossier"] == response.json()["dossier"]
    dossier = retried.json()["dossier"]
    status = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "under_review"
    count = await api.pool.fetchval(
        "SELECT count(*) FROM applications WHERE title = $1", body["title"]
    )
    assert count == 1
    assert ORG  # the provider persona's organisation owns the dossier
