"""An error does not cost the caller its connection: after a 401, a 422 or an unexpected 500
on a keep-alive connection the next request on it is answered. The 500 says nothing of its
cause; the log line says it, with the request id the caller was given."""

from __future__ import annotations

import asyncio
import http.client
from typing import Any

import pytest

from starter.api import access_log
from starter.api.app import create_app
from tests.fixtures.api import Api, Lines, over_http


def _requests(url: str, calls: list[tuple[str, str, dict[str, str]]]) -> list[Any]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    answers = []
    try:
        for method, path, headers in calls:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            answers.append((response.status, response.getheader("X-Request-ID"), response.read()))
    finally:
        connection.close()
    return answers


async def test_a_request_after_an_error_on_the_same_connection_succeeds(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Lines()
    monkeypatch.setattr(access_log, "log", log)
    app = create_app(api.settings, client=api.env.client, pool=api.pool)

    async def broken(*_: Any) -> str:
        raise RuntimeError("driver says: internal detail 0xdeadbeef")

    app.state.service.export_csv = broken  # an unexpected error inside a route
    auth = api.auth("department")
    async with over_http(app) as url:
        answers = await asyncio.to_thread(
            _requests,
            url,
            [
                ("GET", "/open-data/registered.csv?on=2027-01-01", auth),  # 500
                ("GET", "/providers", {"Authorization": "Bearer x.y.z"}),  # 401
                ("GET", "/open-data/registered.csv?on=01-01-2027", auth),  # 422
                ("GET", "/providers", auth),  # 200, still the same connection
            ],
        )
    assert [status for status, _, _ in answers] == [500, 401, 422, 200]
    error_body = answers[0][2].decode()
    assert "deadbeef" not in error_body and "RuntimeError" not in error_body
    failed = next(
        m for m in log.lines if m["event"] == "api.request" and m["request_id"] == answers[0][1]
    )
    assert failed["status"] == 500
    assert "deadbeef" in failed["cause"] and failed["route"] == "/open-data/registered.csv"
