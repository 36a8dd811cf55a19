"""The webhook promises under the faults that would break them, end to end: a private dev
stack (real Temporal dev server, PostgreSQL, worker, API, the supervisor that restarts what
dies) whose one subscription points at a receiver on loopback that verifies every
signature. Transitions go through the HTTP API, as the portal sends them.

For each fault: every event of the test's dossiers arrives (the exact set of ids), each
dossier's events in the order they were recorded, a repeat only as the same webhook-id, and
the cases themselves go on meanwhile."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from pytest_httpserver import HTTPServer
from temporalio.client import WorkflowExecutionStatus

from devstack.ports import free_port
from models.events import WORKFLOW_ID_PREFIX
from registry import providers
from registry.db import dsn_from_settings
from runtime.temporal import connect
from starter.auth import mint_dev_token
from tests.events.receiver import PATH, SECRET, Receiver
from tests.stack.harness import RunningStack, StackConfig, ready_stack

pytestmark = pytest.mark.stack

ORG = "0123456749"
SUBSCRIPTION = "portal"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.start()
    try:
        yield Receiver(server)
    finally:
        if server.is_running():
            server.stop()


@pytest.fixture(scope="module")
def stack(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    url = f"http://127.0.0.1:{receiver.server.port}{PATH}"
    subscription = {"url": url, "secret": SECRET}  # the defaults otherwise (backoff ≤ 30 s)
    config = StackConfig.fresh(
        tmp_path_factory.mktemp("events-stack") / "state",
        events={"subscriptions": {SUBSCRIPTION: subscription}},
    )
    with ready_stack(config, timeout=180) as running:
        yield running


class Portal:
    """The portal's calls: a 503 or a lost connection is retried with the same
    Idempotency-Key (as the README tells the portal to)."""

    def __init__(self, http: httpx.AsyncClient, stack: RunningStack) -> None:
        settings = stack.config.settings()
        self.http = http
        self.provider = self._bearer(
            mint_dev_token(settings, "e2e.provider", org=ORG, roles=("provider",))
        )
        self.reviewer = self._bearer(mint_dev_token(settings, "e2e.voc", roles=("reviewer:VOC",)))

    @staticmethod
    def _bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        key = str(uuid.uuid4())
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = await self.http.post(
                    path, json=body, headers={**headers, "Idempotency-Key": key}
                )
            except httpx.HTTPError:
                pass
            else:
                if answer.status_code != 503:
                    assert answer.is_success, f"{path}: {answer.status_code} {answer.text}"
                    return answer.json()
            assert time.monotonic() < deadline, f"{path}: still unavailable after 120 s"
            await asyncio.sleep(0.5)

    async def submit(self, title: str) -> str:
        body = {
            "provider": ORG,
            "provider_name": "Webhook Opleidingen vzw",
            "contact_email": "webhooks@opleidingen.example.be",
            "title": title,
            "start_date": (date.today() + timedelta(days=200)).isoformat(),
            "volume": "40",
            "volume_unit": "contact_hours",
        }
        return str((await self.post("/applications", body, self.provider))["dossier"])

    async def approve(self, dossier: str) -> float:
        """Seconds until the approval was answered."""
        t0 = time.monotonic()
        answer = await self.post(
            f"/dossiers/{dossier}/review-decision", {"approve": True}, self.reviewer
        )
        assert answer["state"] == "registered"
        return time.monotonic() - t0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(stack: RunningStack) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn = await asyncpg.connect(dsn_from_settings(stack.config.settings()), timeout=10)
    await providers.upsert(conn, ORG, "Webhook Opleidingen vzw", "webhooks@opleidingen.example.be")
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def portal(stack: RunningStack) -> AsyncIterator[Portal]:
    base = f"http://127.0.0.1:{stack.config.ports['api']}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        yield Portal(http, stack)


@dataclass
class E2E:
    stack: RunningStack
    receiver: Receiver
    registry: asyncpg.Connection[Any]
    portal: Portal

    async def recorded(self, dossiers: list[str]) -> list[str]:
        return await recorded(self.registry, dossiers)

    async def delivered_in_order(self, expected: list[str]) -> None:
        """Waits for every expected event, then checks the promises (assert_in_order)."""
        await until("everything delivered", arrived(self.receiver, expected), within=180)
        assert_in_order(self.receiver, expected)


@pytest_asyncio.fixture(loop_scope="session")
async def e2e(
    stack: RunningStack, receiver: Receiver, registry: asyncpg.Connection[Any], portal: Portal
) -> E2E:
    return E2E(stack, receiver, registry, portal)


async def recorded(conn: asyncpg.Connection[Any], dossiers: list[str]) -> list[str]:
    """The event ids of these dossiers, in the order they were recorded."""
    rows = await conn.fetch(
        "SELECT id::text FROM events WHERE subject = ANY ($1::text[]) ORDER BY seq", dossiers
    )
    return [r["id"] for r in rows]


async def until(what: str, ok: Callable[[], bool], within: float) -> float:
    """Polls a receiver thread's state; returns the seconds it took."""
    t0 = time.monotonic()
    while not ok():
        assert time.monotonic() - t0 < within, f"{what}: not within {within:.0f} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - t0


def arrived(receiver: Receiver, expected: list[str]) -> Callable[[], bool]:
    wanted = set(expected)
    return lambda: wanted <= set(receiver.ids())


def assert_in_order(receiver: Receiver, expected: list[str]) -> int:
    """Every expected id arrived, each dossier's first arrivals in recording order, no
    signature refused; returns how many arrivals repeated an id (same webhook-id)."""
    order = {eid: i for i, eid in enumerate(expected)}
    ours = [r for r in receiver.accepted if r.webhook_id in order]
    assert {r.webhook_id for r in ours} == set(order)
    assert receiver.refused_signature == 0
    lanes: dict[str, list[str]] = {}
    for r in ours:
        lanes.setdefault(r.subject, []).append(r.webhook_id)
    for lane in lanes.values():
        firsts = list(dict.fromkeys(lane))
        assert firsts == sorted(firsts, key=order.__getitem__)
    return len(ours) - len(order)


def pid_of(stack: RunningStack, name: str) -> int:
    pid: int = json.loads((stack.config.state / "run" / f"{name}.pid").read_text())["pid"]
    return pid


async def gone(pid: int) -> None:
    for _ in range(600):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"process {pid} still there after 60 s")


async def cases(portal: Portal, n: int, label: str, pace: float = 0.0) -> tuple[list[str], float]:
    """`n` submissions, each approved (2n transitions), one transition every `pace` seconds
    at most; returns the dossiers and the slowest approval's answer time."""
    t0 = time.monotonic()
    dossiers: list[str] = []
    slowest = 0.0
    for i in range(n):
        dossiers.append(await portal.submit(f"{label} {i:03d}"))
        await asyncio.sleep(max(0.0, t0 + (2 * i + 1) * pace - time.monotonic()))
        slowest = max(slowest, await portal.approve(dossiers[-1]))
        await asyncio.sleep(max(0.0, t0 + (2 * i + 2) * pace - time.monotonic()))
    return dossiers, slowest


@pytest.mark.timeout(480)
async def test_receiver_down_two_minutes_while_200_transitions(e2e: E2E) -> None:
    receiver, portal = e2e.receiver, e2e.portal
    receiver.down()  # not listening: every delivery attempt is a refused connection
    down_at = time.monotonic()
    try:
        dossiers, slowest = await cases(portal, 100, "Outage", pace=0.55)
        expected = await e2e.recorded(dossiers)
        assert len(expected) == 200  # submitted + approved, per dossier
        # The cases did not wait for the receiver (an approval is answered in well under
        # the subscription's 10 s timeout; a queued delivery never blocks a step).
        assert slowest < 5.0
        await asyncio.sleep(max(0.0, down_at + 120 - time.monotonic()))
    finally:
        receiver.up()
    # Caught up within seconds (the benchmark measures it: bench.events); a lane backs off
    # at most max_backoff_seconds (30) before it notices the receiver is back.
    await e2e.delivered_in_order(expected)


@pytest.mark.timeout(300)
async def test_worker_killed_mid_delivery(e2e: E2E) -> None:
    stack, receiver, portal = e2e.stack, e2e.receiver, e2e.portal
    receiver.mode, receiver.slow_seconds = "slow", 0.5
    try:
        dossiers, _ = await cases(portal, 12, "Killed")
        expected = await e2e.recorded(dossiers)
        await until(
            "deliveries in flight",
            lambda: len(set(receiver.ids()) & set(expected)) >= 2 and receiver.in_flight > 0,
            within=60,
        )
        worker = pid_of(stack, "worker")
        os.killpg(worker, signal.SIGKILL)  # mid-POST: the receiver takes it, nobody hears
        await gone(worker)
    finally:
        receiver.mode = "ok"
    # The supervisor starts a new worker; the delivery activity, silent past its heartbeat
    # timeout, runs again there and sends what was not recorded as accepted.
    await e2e.delivered_in_order(expected)
    assert pid_of(stack, "worker") != worker


@pytest.mark.timeout(300)
async def test_temporal_restarted(e2e: E2E) -> None:
    stack, receiver, portal = e2e.stack, e2e.receiver, e2e.portal
    receiver.mode = "fail"  # 500: the events of these cases wait, queued
    try:
        before, _ = await cases(portal, 5, "Restart before")
        temporal = pid_of(stack, "temporal")
        os.kill(temporal, signal.SIGTERM)
        await gone(temporal)
        # The portal's calls answer 503 until the supervisor has Temporal back, then go on.
        after, _ = await cases(portal, 5, "Restart after")
    finally:
        receiver.mode = "ok"
    expected = await e2e.recorded(before + after)
    assert len(expected) == 20
    await e2e.delivered_in_order(expected)
    client = await connect(stack.config.settings())
    delivery = await client.get_workflow_handle(WORKFLOW_ID_PREFIX + SUBSCRIPTION).describe()
    assert delivery.status == WorkflowExecutionStatus.RUNNING
