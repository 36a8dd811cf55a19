"""503 only for a registry that is really down: a statement that fails on a PostgreSQL that
answered (a value of the wrong type or number reaching SQL, a division by zero, a lock not
available) is a fault of ours: a 500 whose cause and traceback are in the log, never an
`unavailable` problem that would count as an outage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import Request

from starter.api import access_log
from starter.api.app import create_app
from starter.client import CaseService, Unavailable
from tests.fixtures.api import Api, Lines, over_http

Query = Callable[["asyncpg.Connection[Any]"], Awaitable[Any]]

FAULTS: dict[str, Query] = {
    "a value of the wrong type": lambda conn: conn.fetchval("SELECT $1::int", "not a number"),
    "too few arguments": lambda conn: conn.fetchval("SELECT $1::int + $2::int", 1),
    "a value PostgreSQL refuses": lambda conn: conn.fetchval("SELECT 'x'::text::date"),
    "a division by zero": lambda conn: conn.fetchval("SELECT 1 / 0"),
    "a lock not available (55P03)": lambda conn: conn.execute(
        "DO $$ BEGIN RAISE EXCEPTION 'row locked' USING ERRCODE = '55P03'; END $$"
    ),
    "an object in use (55006)": lambda conn: conn.execute(
        "DO $$ BEGIN RAISE EXCEPTION 'in use' USING ERRCODE = '55006'; END $$"
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_failing_statement_is_no_outage(api: Api, fault: str) -> None:
    service = CaseService(api.settings, api.env.client, api.pool)
    with pytest.raises(Exception) as raised:
        await service._db(FAULTS[fault])
    assert not isinstance(raised.value, Unavailable), raised.value


async def test_a_failing_statement_is_a_500_in_the_log_not_a_503(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Lines()
    monkeypatch.setattr(access_log, "log", log)
    app = create_app(api.settings, client=api.env.client, pool=api.pool)

    async def through_the_service(request: Request) -> Any:
        service: CaseService = request.app.state.service
        return await service._db(FAULTS["a value of the wrong type"])

    async def on_the_pool(request: Request) -> Any:
        # A route that reads the pool itself: the access log's last word decides.
        service: CaseService = request.app.state.service
        return await (await service.pool()).fetchval("SELECT $1::int + $2::int", 1)

    app.add_api_route("/fault/service", through_the_service)
    app.add_api_route("/fault/pool", on_the_pool)
    async with over_http(app) as url, httpx.AsyncClient(base_url=url) as http:
        answers = [await http.get(path) for path in ("/fault/service", "/fault/pool")]
    for answer in answers:
        assert answer.status_code == 500, answer.text
        assert answer.json()["type"] == "urn:odb:problem:internal"
        assert "retry-after" not in answer.headers
    lines = {line["route"]: line for line in log.requests()}
    for route in ("/fault/service", "/fault/pool"):
        assert lines[route]["status"] == 500 and lines[route]["level"] == "error"
        assert lines[route]["problem"] == "internal"
        assert "InterfaceError" in lines[route]["cause"] or "DataError" in lines[route]["cause"]
    # Each with its traceback, as a fault to fix.
    assert [e["route"] for e in log.lines if e["event"] == "api.error"] == [
        "/fault/service",
        "/fault/pool",
    ]
