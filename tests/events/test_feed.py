"""`GET /events` over HTTP (the router on the real registry, in-process through httpx's ASGI
transport): the CloudEvents `sequence` is a zero-padded String, `next_cursor` is the last
event's sequence, and a cursor is read with or without its leading zeros."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from models.identity import Actor, Role, RoleKind
from runtime.settings import Settings
from starter.api.events import events_router
from starter.client import CaseService
from tests.events.test_delivery import _transitions

DEPARTMENT = Actor(subject="u-department", roles=(Role(kind=RoleKind.DEPARTMENT),))


async def test_the_feed_sends_sequence_as_a_padded_string_and_takes_it_as_cursor(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings
) -> None:
    app = FastAPI()
    app.include_router(events_router(lambda: DEPARTMENT))
    app.state.service = CaseService(test_settings, pool=pg_pool)
    start = await pg_pool.fetchval("SELECT coalesce(max(seq), 0) FROM events")
    expected = await _transitions(pg_pool, dossiers=1, each=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://odb") as http:
        first = (await http.get("/events", params={"after": start, "limit": 2})).json()
        assert [e["id"] for e in first["events"]] == expected[:2]
        sequences = [e["sequence"] for e in first["events"]]
        assert all(isinstance(s, str) and len(s) == 19 for s in sequences)
        assert first["next_cursor"] == sequences[-1] and int(sequences[-1]) > start
        rest = (await http.get("/events", params={"after": first["next_cursor"]})).json()
        assert [e["id"] for e in rest["events"]] == expected[2:]
        unpadded = (await http.get("/events", params={"after": str(int(sequences[0]))})).json()
        assert [e["id"] for e in unpadded["events"]] == expected[1:]
        past = (await http.get("/events", params={"after": "9" * 19})).json()
        assert past == {"events": [], "next_cursor": "9" * 19}
        refused = await http.get("/events", params={"after": "1" * 20})
        assert refused.status_code == 422
