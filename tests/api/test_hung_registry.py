"""A PostgreSQL that hangs (every process of it stopped with SIGSTOP: connections open, nothing
answers) costs the portal seconds, not half a minute: a first wave of reads and decisions
answers 503 with Retry-After within 5 s, and the API answers normally once it runs again.

The server is one of this module's own: freezing the session's would stall every other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from registry.migrate import migrate
from runtime.settings import Settings
from starter.api.app import create_app
from tests.fixtures.api import application_body, auth
from tests.workflows.harness import on_fresh_queue, seed_providers

# What the portal is promised (docs/api.md: a hung registry answers 503 within seconds).
ANSWER_WITHIN_SECONDS = 5.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def own_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(
        Path(tmp_path_factory.mktemp("hung-pg")) / "data", free_port(), "odb_hung"
    )
    await asyncio.to_thread(server.start)
    try:
        conn = await asyncpg.connect(server.dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@contextlib.contextmanager
def frozen(server: EmbeddedPostgres) -> Iterator[None]:
    """Every process of the server stopped (the postmaster and each backend: PostgreSQL's
    backends lead sessions of their own), always continued again."""
    assert server.pid is not None
    postmaster = psutil.Process(server.pid)
    stopped: list[psutil.Process] = []
    try:
        for proc in [postmaster, *postmaster.children(recursive=True)]:
            proc.suspend()
            stopped.append(proc)
        yield
    finally:
        for proc in stopped:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.resume()


def _on(settings: Settings, dsn: str) -> Settings:
    postgres = settings.postgres.model_copy(update={"url": dsn})
    return on_fresh_queue(settings.model_copy(update={"postgres": postgres}), "hung")


async def test_a_hung_registry_answers_503_within_seconds_and_recovers(
    own_server: EmbeddedPostgres, ts_env: WorkflowEnvironment, test_settings: Settings
) -> None:
    settings = _on(test_settings, own_server.dsn)
    seeding = await asyncpg.create_pool(own_server.dsn, min_size=0, max_size=2)
    try:
        await seed_providers(seeding)
    finally:
        await seeding.close()
    # The app makes its own pool, as `python -m starter.api` does: the bounds under test are
    # the portal's, not a test pool's.
    app = create_app(settings, client=ts_env.client)
    provider, reviewer = auth(settings, "provider"), auth(settings, "voc_reviewer")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://odb.test", timeout=60
    ) as http:
        submitted = await http.post(
            "/applications",
            json=application_body(),
            headers={**provider, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert submitted.status_code == 201, submitted.text
        dossier = submitted.json()["dossier"]
        # A few connections open and idle in the pool: the hang meets them mid-statement.
        warm = await asyncio.gather(
            *(http.get(f"/dossiers/{dossier}", headers=provider) for _ in range(4))
        )
        assert {r.status_code for r in warm} == {200}

        async def timed(call: Any) -> tuple[float, httpx.Response]:
            started = time.monotonic()
            answer = await call
            return time.monotonic() - started, answer

        with frozen(own_server):
            wave = await asyncio.gather(
                *(timed(http.get(f"/dossiers/{dossier}", headers=provider)) for _ in range(6)),
                *(
                    timed(
                        http.post(
                            f"/dossiers/{dossier}/review-decision",
                            json={"approve": True},
                            headers={**reviewer, "Idempotency-Key": str(uuid.uuid4())},
                        )
                    )
                    for _ in range(3)
                ),
                timed(http.get("/worklist", headers=reviewer)),
            )
        for seconds, answer in wave:
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"].isdigit()
            assert answer.json()["detail"].startswith("the registry (PostgreSQL): ")
            assert seconds < ANSWER_WITHIN_SECONDS, f"{answer.request.url}: {seconds:.1f} s"

        again = await http.get(f"/dossiers/{dossier}", headers=provider)
        assert again.status_code == 200, again.text
        assert again.json()["dossier"] == dossier
