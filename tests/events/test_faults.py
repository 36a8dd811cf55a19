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
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus

from bench.drills import CONTACT, ORG, PROVIDER_NAME, Drill, Portal
from models.events import WORKFLOW_ID_PREFIX
from registry import providers
from registry.db import dsn_from_settings
from runtime.temporal import connect
from tests.events.receiver import SECRET, Receiver, serving
from tests.fixtures.api import run_starter
from tests.stack.harness import RunningStack, StackConfig, ready_stack

pytestmark = pytest.mark.stack

SUBSCRIPTION = "portal"
# The receiver's outage in the test; `python -m bench.events` (--outage 2, the default) plays
# the 2-minute one under 20 transitions/s.
OUTAGE_SECONDS = 20.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with serving() as running:
        yield running


@pytest.fixture(scope="module")
def stack(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # The defaults otherwise (backoff up to 30 s).
    subscription = {"url": receiver.url, "secret": SECRET}
    config = StackConfig.fresh(
        tmp_path_factory.mktemp("events-stack") / "state",
        events={"subscriptions": {SUBSCRIPTION: subscription}},
    )
    with ready_stack(config, timeout=180) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(stack: RunningStack) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn = await asyncpg.connect(dsn_from_settings(stack.config.settings()), timeout=10)
    await providers.upsert(conn, ORG, PROVIDER_NAME, CONTACT)
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def portal(stack: RunningStack) -> AsyncIterator[Portal]:
    """The portal's calls (bench/drills.py): a 503 or a lost connection is retried with the
    same Idempotency-Key, as docs/events.md tells the portal to."""
    base = f"http://127.0.0.1:{stack.config.ports['api']}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        yield Portal(http, stack.config.settings())


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
    drill = Drill(label, "events")
    t0 = time.monotonic()
    dossiers: list[str] = []
    slowest = 0.0
    for i in range(n):
        dossier = await portal.submit(drill, i)
        assert dossier is not None, drill.statuses
        dossiers.append(dossier)
        await asyncio.sleep(max(0.0, t0 + (2 * i + 1) * pace - time.monotonic()))
        decided = await portal.decide(drill, dossier, True)
        assert decided.status == 200, drill.statuses
        slowest = max(slowest, decided.seconds)
        await asyncio.sleep(max(0.0, t0 + (2 * i + 2) * pace - time.monotonic()))
    return dossiers, slowest


@pytest.mark.timeout(300)
async def test_receiver_down_while_transitions_happen(e2e: E2E) -> None:
    receiver, portal = e2e.receiver, e2e.portal
    receiver.down()  # not listening: every delivery attempt is a refused connection
    down_at = time.monotonic()
    try:
        # 40 transitions spread over the outage: lanes back off 1, 2, 4, 8, 16 s meanwhile.
        dossiers, slowest = await cases(portal, 20, "Outage", pace=OUTAGE_SECONDS / 45)
        expected = await e2e.recorded(dossiers)
        assert len(expected) == 40  # submitted + approved, per dossier
        # The cases did not wait for the receiver (an approval is answered in well under
        # the subscription's 10 s timeout; a queued delivery never blocks a step).
        assert slowest < 5.0
        await asyncio.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))
    finally:
        receiver.up()
    # Caught up within seconds (the benchmark measures it: bench.events); a lane backs off
    # at most max_backoff_seconds (30) before it notices the receiver is back.
    await e2e.delivered_in_order(expected)


@pytest.mark.timeout(300)
async def test_worker_killed_mid_delivery(e2e: E2E) -> None:
    stack, receiver, portal = e2e.stack, e2e.receiver, e2e.portal
    # Each answer takes 2 s: sends are surely in flight when the worker dies, whatever the
    # pace of the submissions.
    receiver.mode, receiver.slow_seconds = "slow", 2.0
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


async def starter(stack: RunningStack, *args: str) -> tuple[int, str]:
    """`python -m starter ARGS` as ops run it against the stack: (exit code, out + err)."""
    code, out, err = await run_starter(
        {"DATABASE_URL": dsn_from_settings(stack.config.settings())}, *args
    )
    return code, out + err


@pytest.mark.timeout(300)
async def test_gone_keeps_every_later_event_until_resumed(e2e: E2E) -> None:
    stack, receiver, portal = e2e.stack, e2e.receiver, e2e.portal
    gone_at = "SELECT gone_at FROM event_subscriptions WHERE name = $1"
    receiver.mode = "gone"  # 410: the portal says the subscription is gone
    try:
        before, _ = await cases(portal, 1, "Gone before")
        for _ in range(300):
            if await e2e.registry.fetchval(gone_at, SUBSCRIPTION) is not None:
                break
            await asyncio.sleep(0.1)
        # Paused: the cases go on; their events wait, pending, in order.
        after, _ = await cases(portal, 3, "Gone after")
        code, status = await starter(stack, "events", "status", "--subscription", SUBSCRIPTION)
        assert code == 1 and "PAUSED (the receiver answered 410 Gone" in status, status
    finally:
        receiver.mode = "ok"
    expected = await e2e.recorded(before + after)
    assert len(expected) == 8 and not set(receiver.ids()) & set(expected)
    client = await connect(stack.config.settings())
    delivery = await client.get_workflow_handle(WORKFLOW_ID_PREFIX + SUBSCRIPTION).describe()
    assert delivery.status == WorkflowExecutionStatus.RUNNING  # paused, not ended
    code, out = await starter(stack, "events", "resume", SUBSCRIPTION)
    assert code == 0 and "backlog of 8 events" in out, out
    await e2e.delivered_in_order(expected)
