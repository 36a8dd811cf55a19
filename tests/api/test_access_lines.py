"""One access line for every request, served over HTTP: the health probe too, and each line
names the route it was for, also a body refused before routing (413) and FastAPI's own pages
(/openapi.json, /docs). Only a path no route takes is "(no route)"."""

from __future__ import annotations

import httpx
import pytest

from starter.api import access_log
from starter.api.app import create_app
from tests.fixtures.api import Api, Lines, over_http


async def test_every_request_has_one_line_naming_its_route(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Lines()
    monkeypatch.setattr(access_log, "log", log)
    app = create_app(api.settings, client=api.env.client, pool=api.pool)
    too_large = b"{" + b" " * api.settings.api.max_body_bytes + b"}"
    # (method, path, body, status, the route its line names)
    calls: list[tuple[str, str, bytes | None, int, str]] = [
        ("GET", "/health", None, 200, "/health"),
        ("GET", "/openapi.json", None, 200, "/openapi.json"),
        ("GET", "/docs", None, 200, "/docs"),
        ("POST", "/applications", too_large, 413, "/applications"),
        ("POST", "/dossiers/ODB-2027-000001/appeal", too_large, 413, "/dossiers/{dossier}/appeal"),
        ("DELETE", "/health", None, 405, "/health"),
        ("GET", "/no-such-page", None, 404, "(no route)"),
    ]
    json_type = {"Content-Type": "application/json"}
    async with over_http(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        answers = []
        for method, path, body, _, _ in calls:
            answers.append(await http.request(method, path, content=body, headers=json_type))
    lines = {line["request_id"]: line for line in log.requests()}
    assert len(log.requests()) == len(calls)
    for (method, path, _, status, route), answer in zip(calls, answers, strict=True):
        assert answer.status_code == status, (method, path, answer.text[:200])
        line = lines[answer.headers["X-Request-ID"]]
        assert (line["method"], line["route"], line["status"]) == (method, route, status)
        assert line["level"] == ("info" if status < 400 else "warning")
