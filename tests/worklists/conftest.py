"""The worklists read Temporal visibility: they run on the ops tests' dev server and seeded
cases (tests/ops/conftest.py), behind the real API app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio

from runtime.settings import Settings
from starter.api.app import create_app
from tests.ops.conftest import Seeded, UiServer, ops_registry, ops_server, seeded

__all__ = ["ops_registry", "ops_server", "seeded"]


@pytest_asyncio.fixture(scope="session")
async def worklist_http(
    ops_server: UiServer, seeded: Seeded, ops_registry: tuple[asyncpg.Pool[Any], Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    pool, settings = ops_registry
    app = create_app(settings, client=ops_server.client, pool=pool)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://odb.test"
    ) as http:
        yield http
