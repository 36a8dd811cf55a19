"""Webhook delivery lag and catch-up: `python -m bench.events [--minutes 5] [--rate 20]`.

Needs the dev stack's PostgreSQL (`make run`, or DATABASE_URL). Records `rate` registry steps
per second (new dossiers, through `registry.steps.record`, the very transaction the case's
step activity runs; not through the HTTP API: the API and workflow costs are measured by
bench.api_load and bench.case_throughput) and runs the delivery (`events.deliver`, in
process, repeated like its workflow does) to a verifying receiver on loopback. The receiver
is down for the middle 2/5 of the run. Prints delivery lag p50/p99 (step committed ->
receiver accepted) while up, and the catch-up time after the receiver returns.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pytest_httpserver import HTTPServer
from temporalio.testing import ActivityEnvironment

from activities.events import EventActivities
from models.events import DeliveryInput, event_id
from registry import events, steps
from registry.db import create_pool
from runtime.settings import EventsSettings, load_settings
from tests.events.receiver import SECRET, Receiver
from tests.registry.helpers import new_dossier, step


async def main(minutes: float, rate: float) -> None:
    settings = load_settings()
    pool = await create_pool(settings)
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    receiver = Receiver(server)
    arrived: dict[str, float] = {}
    name = f"bench{uuid.uuid4().hex[:6]}"
    sub = {"url": receiver.url, "secret": SECRET, "max_concurrency": 16}
    ev = EventsSettings.model_validate(
        {"subscriptions": {name: sub}, "poll_seconds": 0.05, "run_seconds": 5}
    )
    settings = settings.model_copy(update={"events": ev})
    await events.sync_subscriptions(pool, {name: (receiver.url, ())})
    committed: dict[str, float] = {}
    while_up: set[str] = set()
    total = minutes * 60
    down = (total * 0.4, total * 0.6) if minutes >= 1 else (total, total)
    stop = asyncio.Event()

    async def deliver() -> None:
        acts = EventActivities(pool, settings)
        while not stop.is_set():
            await ActivityEnvironment().run(acts.deliver, DeliveryInput(subscription=name))

    async def drive() -> None:
        start = time.monotonic()
        i = 0
        while (now := time.monotonic() - start) < total:
            receiver.mode = "fail" if down[0] <= now < down[1] else "ok"
            dossier = await new_dossier(pool)
            async with pool.acquire() as conn, conn.transaction():
                await steps.record(conn, step(dossier, "submitted", at=datetime.now(UTC)))
            committed[event_id(dossier, "submitted")] = time.time()
            if receiver.mode == "ok":
                while_up.add(event_id(dossier, "submitted"))
            i += 1
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        receiver.mode = "ok"

    def watch() -> None:
        for r in receiver.accepted:
            arrived.setdefault(r.webhook_id, time.time())

    delivery = asyncio.create_task(deliver())
    t0 = time.monotonic()
    returned_at: float | None = None
    caught_up: float | None = None
    driving = asyncio.create_task(drive())
    while not driving.done() or len(arrived) < len(committed):
        watch()
        elapsed = time.monotonic() - t0
        if returned_at is None and elapsed >= down[1] and down[1] < total:
            returned_at = time.monotonic()
            backlog = set(committed)
        if returned_at is not None and caught_up is None and backlog <= set(arrived):
            caught_up = time.monotonic() - returned_at
        await asyncio.sleep(0.02)
    stop.set()
    await driving
    await delivery
    up = [arrived[k] - committed[k] for k in while_up if k in arrived]
    lags = sorted(up)
    print(f"events {len(committed)}, delivered {len(arrived)} (rate {rate}/s, {minutes} min)")
    if lags:
        p99 = lags[int(len(lags) * 0.99) - 1] if len(lags) > 1 else lags[0]
        print(f"lag p50 {statistics.median(lags):.3f} s, p99 {p99:.3f} s (recorded while up)")
    if caught_up is not None:
        print(f"catch-up after the receiver returned: {caught_up:.1f} s")
    server.stop()
    await pool.close()


def cli(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--rate", type=float, default=20)
    args = parser.parse_args(argv)
    asyncio.run(main(args.minutes, args.rate))


if __name__ == "__main__":
    cli()
