"""Webhook delivery lag and catch-up, end to end through the HTTP API (figures, not pass/fail):

    .venv/bin/python -m bench.events                      # 2 runs of 5 minutes at 20/s
    .venv/bin/python -m bench.events --minutes 1 --outage 0.4 --rate 10   # a quick try

Starts a private dev stack (tests/stack/harness.py: its own state folder and free ports; the
real Temporal dev server, PostgreSQL, SMTP sink, worker and API) whose settings carry one
webhook subscription to a receiver in this process (pytest-httpserver on loopback, threaded:
a thread per request and keep-alive, as a portal's web server; it verifies every Standard
Webhooks signature, as the portal would). Then drives `rate` transitions per
second through the API, as the portal does (each a submission, or the approval of an
earlier submission), in two runs of `minutes` each:

  1. up      the receiver up the whole run: delivery lag p50 / p99 / max;
  2. outage  the receiver down (not listening: connections refused) for `outage` minutes in
             the middle: the backlog when it returns, the catch-up time (its return -> every
             event committed before then accepted), and the lag before the outage and after
             the catch-up.

Lag = receiver accepted - transition committed, where committed is the event row's
`recorded_at` (the clock at the event insert, the step transaction's last statement: within a
round trip of the commit; same machine, same clock). Each run also checks what the issue
promises: every event of the run's dossiers arrived (the exact set of ids), in order per
dossier, duplicates only as the same webhook-id.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.drills import CONTACT, ORG, PORTAL_LIMITS, PROVIDER_NAME, Drill, Portal
from registry import providers
from registry.db import dsn_from_settings
from tests.events.receiver import SECRET, Receiver, serving
from tests.stack.harness import StackConfig, ready_stack

SUBSCRIPTION = "portal"
DRAIN_CAP = 300.0  # seconds after a run's last transition we wait for its last event


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))]


def lag_text(lags: list[float]) -> str:
    if not lags:
        return "no events"
    return (
        f"n {len(lags)}, p50 {statistics.median(lags):.3f} s, p99 {pct(lags, 0.99):.3f} s, "
        f"max {max(lags):.3f} s"
    )


@dataclass
class Run:
    name: str
    minutes: float
    outage: tuple[float, float] | None  # seconds into the run
    drill: Drill = field(default_factory=lambda: Drill("events", "bench"))
    dossiers: list[str] = field(default_factory=list)
    transitions: int = 0
    started: float = 0.0  # time.time()
    down_at: float | None = None
    up_at: float | None = None
    lines: list[str] = field(default_factory=list)


async def drive(run: Run, portal: Portal, receiver: Receiver, rate: float) -> None:
    """Open loop: one transition every 1/rate s whatever the answers take (as many portal
    users would), alternating a submission and the approval of the oldest unapproved one."""
    waiting: asyncio.Queue[str] = asyncio.Queue()
    tasks: list[asyncio.Task[Any]] = []
    sem = asyncio.Semaphore(200)
    total = run.minutes * 60

    async def submit(i: int) -> None:
        async with sem:
            dossier = await portal.submit(run.drill, i)
        if dossier is not None:
            run.dossiers.append(dossier)
            await waiting.put(dossier)

    async def approve() -> None:
        dossier = await waiting.get()
        async with sem:
            await portal.decide(run.drill, dossier, True)

    t0 = time.monotonic()
    run.started = time.time()
    i = 0
    while (elapsed := time.monotonic() - t0) < total:
        if run.outage is not None:
            if run.down_at is None and elapsed >= run.outage[0]:
                await asyncio.to_thread(receiver.down)
                run.down_at = time.time()
                log(f"{run.name}: receiver down")
            elif run.up_at is None and elapsed >= run.outage[1]:
                await asyncio.to_thread(receiver.up)
                run.up_at = time.time()
                log(f"{run.name}: receiver back")
        tasks.append(asyncio.create_task(submit(i) if i % 2 == 0 else approve()))
        i += 1
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
    run.transitions = i
    await asyncio.gather(*tasks)


async def committed(conn: asyncpg.Connection[Any], dossiers: list[str]) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT id::text AS id, subject, seq, extract(epoch FROM recorded_at) AS at
           FROM events WHERE subject = ANY ($1::text[]) ORDER BY seq""",
        dossiers,
    )
    return rows


async def settle(run: Run, conn: asyncpg.Connection[Any], receiver: Receiver) -> list[Any]:
    """Waits until every event of the run's dossiers has arrived (or DRAIN_CAP passes)."""
    deadline = time.monotonic() + DRAIN_CAP
    while True:
        rows = await committed(conn, run.dossiers)
        arrived = receiver.first_arrivals()
        missing = [r["id"] for r in rows if r["id"] not in arrived]
        if not missing or time.monotonic() > deadline:
            if missing:
                run.lines.append(f"MISSING {len(missing)} events after {DRAIN_CAP:.0f} s")
            return rows
        await asyncio.sleep(0.5)


def report(run: Run, rows: list[Any], receiver: Receiver, rate: float) -> None:
    arrived = receiver.first_arrivals()
    ours = {r["id"] for r in rows}
    lags = {r["id"]: arrived[r["id"]] - float(r["at"]) for r in rows if r["id"] in arrived}
    seconds = run.minutes * 60
    out = run.lines
    out.insert(0, f"== run {run.name}: {run.transitions} transitions in {seconds:.0f} s "
               f"(target {rate:g}/s), {len(rows)} events, {len(lags)} delivered")  # fmt: skip
    statuses = Counter(run.drill.statuses)
    out.append(f"HTTP answers: {dict(statuses)}")
    slow = [d.seconds for d in run.drill.decisions if d.status == 200]
    if slow:
        out.append(
            f"approvals answered 200: p50 {statistics.median(slow):.3f} s, "
            f"p99 {pct(slow, 0.99):.3f} s (the cases' own progress)"
        )
    # The promises: exact set, order per dossier, duplicates only as the same id.
    got = [r.webhook_id for r in receiver.accepted if r.webhook_id in ours]
    order = {r["id"]: r["seq"] for r in rows}
    lanes: dict[str, list[str]] = {}
    for r in receiver.accepted:
        if r.webhook_id in ours:
            lanes.setdefault(r.subject, []).append(r.webhook_id)
    out_of_order = sum(
        1
        for lane in lanes.values()
        if (firsts := list(dict.fromkeys(lane))) != sorted(firsts, key=order.__getitem__)
    )
    out.append(
        f"exact set: {set(got) == ours}; dossiers out of order: {out_of_order}; "
        f"repeated deliveries (same webhook-id): {len(got) - len(set(got))}; "
        f"bad signatures: {receiver.refused_signature}"
    )
    if run.outage is None or run.down_at is None or run.up_at is None:
        out.append(f"lag: {lag_text(list(lags.values()))}")
        return
    at = {r["id"]: float(r["at"]) for r in rows}
    # Events the outage caught undelivered count in the backlog, not here.
    before = [v for k, v in lags.items() if arrived[k] < run.down_at]
    backlog = [k for k in at if at[k] < run.up_at and (k not in arrived or arrived[k] > run.up_at)]
    caught = max((arrived[k] for k in backlog if k in arrived), default=run.up_at)
    after = [v for k, v in lags.items() if at[k] > caught]
    during = [v for k, v in lags.items() if run.up_at <= at[k] <= caught]
    out.append(f"lag before the outage: {lag_text(before)}")
    out.append(
        f"outage {run.up_at - run.down_at:.0f} s: backlog {len(backlog)} events; caught up "
        f"{caught - run.up_at:.1f} s after the receiver returned"
    )
    out.append(f"lag of events committed during the catch-up: {lag_text(during)}")
    out.append(f"lag after the catch-up: {lag_text(after)}")


async def main(args: argparse.Namespace) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    tmp = Path(tempfile.mkdtemp(prefix="odb-bench-events-"))
    runs = [
        Run("up", args.minutes, None),
        Run("outage", args.minutes, ((args.minutes * 60 - args.outage * 60) / 2,
                                     (args.minutes * 60 + args.outage * 60) / 2)),
    ]  # fmt: skip
    try:
        with serving() as receiver:
            sub = {"url": receiver.url, "secret": SECRET, "max_concurrency": args.concurrency}
            config = StackConfig.fresh(
                tmp / "state", events={"subscriptions": {SUBSCRIPTION: sub}}
            )
            settings = config.settings()
            log(f"starting a private dev stack in {config.state}")
            with ready_stack(config, timeout=180):
                conn = await asyncpg.connect(dsn_from_settings(settings), timeout=10)
                await providers.upsert(conn, ORG, PROVIDER_NAME, CONTACT)
                api = f"http://127.0.0.1:{config.ports['api']}"
                async with httpx.AsyncClient(
                    base_url=api, limits=PORTAL_LIMITS, timeout=45
                ) as http:
                    portal = Portal(http, settings)
                    chosen = [r for r in runs if args.only in (None, r.name)]
                    for run in chosen:
                        log(f"run {run.name}: {args.rate:g} transitions/s for {run.minutes:g} min")
                        await drive(run, portal, receiver, args.rate)
                        rows = await settle(run, conn, receiver)
                        report(run, rows, receiver, args.rate)
                        for line in run.lines:
                            print(line, flush=True)
                await conn.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5, help="length of each run")
    parser.add_argument("--rate", type=float, default=20, help="transitions per second")
    parser.add_argument("--outage", type=float, default=2, help="minutes the receiver is down")
    parser.add_argument("--concurrency", type=int, default=8, help="the subscription's lanes")
    parser.add_argument("--only", choices=("up", "outage"), default=None)
    sys.exit(asyncio.run(main(parser.parse_args())))


if __name__ == "__main__":
    cli()
