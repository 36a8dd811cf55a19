"""No dossier without its case: a submission made while Temporal cannot be reached is
accepted (202) with its dossier number, reads as received, is on no worklist and refuses a
decision in words that say why; its case starts by itself once Temporal answers (a drainer
makes the start recorded in the allocation's transaction), with one acknowledgment. The
same holds for a start an API process left when it died between its commit and its start,
and for several drainers at once.

The module has a registry database and a Temporal dev server of its own: a drainer takes
every recorded start it finds, and the other modules' registry is not its to drain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devstack.ports import free_port
from models import search
from ops.reconcile import Kind, reconcile
from registry import case_starts as registry_case_starts
from registry.db import create_pool
from runtime.settings import Settings
from starter import case_starts, registry_reads
from starter.api.app import create_app
from tests.fixtures.api import Api, application_body, serving
from tests.fixtures.postgres import own_database
from tests.fixtures.temporal import _binary
from tests.workflows.harness import application


def _settings(base: Settings, **overrides: Any) -> Settings:
    data = base.model_dump()
    for section, values in overrides.items():
        data[section] = {**data[section], **values}
    return Settings.model_validate(data)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(pg_dsn: str, test_settings: Settings) -> AsyncIterator[Api]:
    """The real app and worker over a registry database of this module's own, on a Temporal
    dev server of its own (ops reconcile lists the running cases, which only it can)."""
    async with own_database(pg_dsn, "starts") as dsn:
        settings = _settings(test_settings, postgres={"url": dsn})
        env = await WorkflowEnvironment.start_local(
            namespace="default",
            data_converter=pydantic_data_converter,
            dev_server_existing_path=_binary("temporal"),
            search_attributes=list(search.ALL),
            dev_server_extra_args=[
                "--dynamic-config-value",
                "frontend.enableUpdateWorkflowExecution=true",
            ],
        )
        pool = await create_pool(settings)
        try:
            async with serving(env, pool, settings, "starts") as served:
                yield served
        finally:
            await pool.close()
            await env.shutdown()


def temporal_down(api: Api) -> httpx.AsyncClient:
    """The same API process, but Temporal cannot be reached (nothing listens there)."""
    dead = _settings(api.settings, temporal={"address": f"127.0.0.1:{free_port()}"})
    app = create_app(dead, pool=api.pool)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://odb.test")


def sources(api: Api) -> tuple[Any, Any]:
    """The process's pool and Temporal client, as a drainer asks for them."""

    async def pool() -> asyncpg.Pool[Any]:
        return api.pool

    async def client() -> Any:
        return api.env.client

    return pool, client


def drainer(api: Api) -> case_starts.Drainer:
    """A drainer as every API process and worker runs one, reaching Temporal."""
    return case_starts.Drainer(api.settings, *sources(api))


async def pending(api: Api) -> set[str]:
    return {r["dossier"] for r in await api.pool.fetch("SELECT dossier FROM case_starts")}


async def until_started(api: Api, dossiers: set[str], within: float = 20.0) -> None:
    """Waits (no retry of anyone's) until none of `dossiers` has a start left."""
    deadline = asyncio.get_running_loop().time() + within
    while await pending(api) & dossiers:
        assert asyncio.get_running_loop().time() < deadline, "the starts were never made"
        await asyncio.sleep(0.1)


async def reviewer_list(http: httpx.AsyncClient, api: Api) -> dict[str, Any]:
    answer = await http.get("/worklist?list=waiting-for-reviewer", headers=api.auth("voc_reviewer"))
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()["lists"][0]
    return page


async def acknowledged_once(api: Api, dossier: str, within: float = 20.0) -> None:
    """The acknowledgment e-mail went out, and only one was ever queued."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = await api.pool.fetch(
            "SELECT status FROM notifications WHERE dossier = $1 AND kind = 'acknowledgment'",
            dossier,
        )
        if rows and rows[0]["status"] == "sent":
            assert len(rows) == 1
            return
        assert asyncio.get_running_loop().time() < deadline, f"no acknowledgment sent: {rows}"
        await asyncio.sleep(0.1)


async def approve(http: httpx.AsyncClient, api: Api, dossier: str) -> httpx.Response:
    return await http.post(
        f"/dossiers/{dossier}/review-decision",
        json={"approve": True},
        headers={**api.auth("voc_reviewer"), "Idempotency-Key": str(uuid.uuid4())},
    )


async def test_a_submission_while_temporal_is_down_is_accepted_and_starts_when_it_is_back(
    api: Api,
) -> None:
    key, body = str(uuid.uuid4()), application_body()
    headers = {**api.auth("provider"), "Idempotency-Key": key}
    async with temporal_down(api) as down:
        accepted = await down.post("/applications", json=body, headers=headers)
        assert accepted.status_code == 202, accepted.text
        answer = accepted.json()
        dossier = answer["dossier"]
        assert (answer["created"], answer["case_started"]) == (True, False)
        assert accepted.headers["location"].endswith(f"/dossiers/{dossier}")
        # The portal retries anyway: the same dossier, still one.
        again = await down.post("/applications", json=body, headers=headers)
        assert again.status_code == 202, again.text
        assert (again.json()["dossier"], again.json()["created"]) == (dossier, False)

        # The provider reads what is true: received, its case being started.
        read = await down.get(f"/dossiers/{dossier}", headers=api.auth("provider"))
        assert read.status_code == 200, read.text
        case = read.json()
        assert (case["as_of_step"], case["waiting_for"]) == ("received", "system")
        assert "its case is being started" in case["next_step"]
        assert case["history"] == []
        received_at = case["submitted_at"]
        listed = await down.get("/dossiers", headers=api.auth("provider"))
        item = next(i for i in listed.json()["items"] if i["dossier"] == dossier)
        assert (item["last_step"], item["waiting_for"]) == ("received", "system")

        # No reviewer sees it, and a decision says why it cannot be taken yet.
        before = await reviewer_list(down, api)
        assert dossier not in {i["dossier"] for i in before["items"]}
        refused = await approve(down, api, dossier)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"].isdigit()
        detail = refused.json()["detail"]
        assert f"dossier {dossier} was received but its case has not started yet" in detail
        assert "has ended" not in detail

    # Temporal answers again: the drainer (as the API and the worker run it) starts it.
    running = case_starts.start_draining(api.settings, *sources(api))
    try:
        await until_started(api, {dossier})
    finally:
        running.cancel()
    await acknowledged_once(api, dossier)
    after = await reviewer_list(api.http, api)
    assert dossier in {i["dossier"] for i in after["items"]}
    assert after["count"] == before["count"] + 1
    case = (await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))).json()
    assert (case["waiting_for"], case["as_of_step"]) == ("reviewer", "submitted")
    # Submitted when it was received, not when its case started.
    assert case["submitted_at"] == received_at

    late = await api.http.post("/applications", json=body, headers=headers)
    assert late.status_code == 200, late.text
    assert (late.json()["dossier"], late.json()["case_started"]) == (dossier, True)
    decided = await approve(api.http, api, dossier)
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "registered"
    count = await api.pool.fetchval(
        "SELECT count(*) FROM applications WHERE title = $1", body["title"]
    )
    assert count == 1


async def allocated_only(api: Api, n: int = 1) -> list[str]:
    """Dossiers committed by an API process that died before it started their cases."""
    start = datetime.now(UTC).date() + timedelta(days=150)
    made = []
    async with api.pool.acquire() as conn:
        for _ in range(n):
            dossier, *_ = await registry_reads.allocate(
                conn, str(uuid.uuid4()), application(start), datetime.now(UTC)
            )
            made.append(dossier)
    return made


async def test_a_start_left_by_an_api_that_died_after_its_commit_is_made_by_a_drainer(
    api: Api,
) -> None:
    (dossier,) = await allocated_only(api)
    assert dossier in await pending(api)
    assert dossier not in {i["dossier"] for i in (await reviewer_list(api.http, api))["items"]}
    waiting, oldest = await registry_case_starts.summary(api.pool)  # what ops' gauges show
    assert waiting >= 1 and oldest is not None

    assert await drainer(api).drain_once() >= 1
    assert dossier not in await pending(api)
    await acknowledged_once(api, dossier)
    assert dossier in {i["dossier"] for i in (await reviewer_list(api.http, api))["items"]}
    # The start made a second time (a drainer whose lease ran out) finds its case running.
    handle = api.env.client.get_workflow_handle(dossier)
    run = (await handle.describe()).run_id
    await api.pool.execute("INSERT INTO case_starts (dossier) VALUES ($1)", dossier)
    assert await drainer(api).drain_once() >= 1
    assert dossier not in await pending(api)
    assert (await handle.describe()).run_id == run
    await acknowledged_once(api, dossier)


async def test_several_drainers_start_each_case_once(api: Api) -> None:
    dossiers = await allocated_only(api, 24)
    started = await asyncio.gather(*(drainer(api).drain_once() for _ in range(4)))
    assert sum(started) == len(dossiers)  # no start claimed by two drainers
    assert not (await pending(api)) & set(dossiers)
    for dossier in dossiers:
        await acknowledged_once(api, dossier)
    submitted = await api.pool.fetchval(
        "SELECT count(*) FROM audit WHERE dossier = ANY($1::text[]) AND step = 'submitted'",
        dossiers,
    )
    assert submitted == len(dossiers)


async def test_a_decision_on_a_case_still_to_be_started_starts_it_when_temporal_answers(
    api: Api,
) -> None:
    (dossier,) = await allocated_only(api)
    decided = await approve(api.http, api, dossier)
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "registered"
    assert dossier not in await pending(api)
    await acknowledged_once(api, dossier)


async def test_has_ended_is_said_only_of_a_case_that_ended(api: Api) -> None:
    """A dossier whose case is neither running nor to be started (lost before the starts
    were recorded) is not called ended."""
    (dossier,) = await allocated_only(api)
    await api.pool.execute("DELETE FROM case_starts WHERE dossier = $1", dossier)
    refused = await approve(api.http, api, dossier)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert "has ended" not in detail
    assert f"dossier {dossier} is under review in the registry but has no running case" in detail


async def test_reconcile_reports_a_start_still_to_be_made_as_what_it_is(api: Api) -> None:
    (dossier,) = await allocated_only(api)
    report = await reconcile(api.env.client, api.pool, settle=(0.0,), record=False)
    check = report.checks[dossier]
    assert (check.kind, check.why) == (Kind.UNCHECKED, "its case is still to be started")
    assert dossier not in {c.dossier for c in report.differing + report.missing}
    assert await drainer(api).drain_once() >= 1
