"""Benchmark (figures, not pass/fail): submissions through the portal API at a fixed rate.

Starts its own real servers in a temporary folder (Temporal dev server file-backed with WAL,
embedded PostgreSQL, SMTP sink), the real worker (`python worker.py`) and the real API
(`python -m starter.api`, uvicorn on loopback) as separate processes, then sends N
submissions open-loop at RATE per second (a request is sent on schedule whether or not
earlier ones have answered) and prints p50/p90/p99/max latency, the sustained rate and
the error count.

    .venv/bin/python -m bench.api_load --n 1000 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.servers import start_dev_server
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.smtp_sink import SmtpSink
from registry import db, migrate, providers
from runtime.settings import PROJECT_ROOT, load_settings
from starter.auth import mint_dev_token

ORG = "0123456749"


def _body(i: int) -> dict[str, Any]:
    return {
        "provider": ORG,
        "provider_name": "Bench Opleidingen vzw",
        "contact_email": "bench@opleidingen.example.be",
        "title": f"Benchopleiding {i:05d}",
        "start_date": (date.today() + timedelta(days=200)).isoformat(),
        "volume": "40",
        "volume_unit": "contact_hours",
    }


async def wait_http(url: str, seconds: float) -> None:
    """Until `url` answers 200 (a process just started), at most `seconds`."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


async def _load(base: str, token: str, n: int, rate: float) -> None:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    finished: list[float] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        # Warm the connection pool, the worker's caches and the API's Temporal client.
        for i in range(5):
            await http.post(
                "/applications",
                json=_body(100000 + i),
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
            )

        async def one(i: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            sent = time.perf_counter()
            try:
                response = await http.post(
                    "/applications",
                    json=_body(i),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Idempotency-Key": str(uuid.uuid4()),
                    },
                )
                if response.status_code != 201:
                    key = f"{response.status_code}: {response.text[:120]}"
                    errors[key] = errors.get(key, 0) + 1
            except httpx.HTTPError as exc:
                key = type(exc).__name__
                errors[key] = errors.get(key, 0) + 1
            done = time.perf_counter()
            # From the scheduled send time: a slow server cannot hide queueing delay.
            latencies.append(done - min(sent, at))
            finished.append(done)

        t0 = time.perf_counter() + 0.5
        await asyncio.gather(*(one(i, t0 + i / rate) for i in range(n)))
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    span = max(finished) - t0
    print(f"submissions: {n} at a fixed rate of {rate:g}/s (open loop)")
    print(
        f"latency ms: p50 {q[49] * 1000:.0f}  p90 {q[89] * 1000:.0f}  "
        f"p99 {q[98] * 1000:.0f}  max {latencies[-1] * 1000:.0f}"
    )
    print(f"sustained rate: {n / span:.1f}/s over {span:.1f} s")
    print(f"errors: {sum(errors.values())}")
    for key, count in errors.items():
        print(f"  {count} x {key}")


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


async def _drained(client: Client, expected: int) -> None:
    """How long after the last answer the worker has taken up every case (its workflow
    ran and published OdbState), seen through the dev server's visibility."""
    start = time.perf_counter()
    query = "WorkflowType = 'ApplicationWorkflow' AND OdbState = 'under_review'"
    count = 0
    while time.perf_counter() - start < 120:
        count = (await client.count_workflows(query)).count
        if count >= expected:
            break
        await asyncio.sleep(0.5)
    waited = time.perf_counter() - start
    print(f"cases taken up by the worker: {count} of {expected}, {waited:.1f} s after the load")


async def main(n: int, rate: float) -> None:
    with tempfile.TemporaryDirectory(prefix="odb-api-bench-") as tmp:
        folder = Path(tmp)
        pg = EmbeddedPostgres(folder / "pg", free_port())
        pg.start()
        sink = SmtpSink(folder / "mail", free_port()).start()
        env = await start_dev_server(folder)
        api_port = free_port()
        overrides = {
            "DATABASE_URL": pg.dsn,
            "ODB_TEMPORAL__ADDRESS": env.client.service_client.config.target_host,
            "ODB_TEMPORAL__NAMESPACE": "default",
            "ODB_TEMPORAL__TASK_QUEUE": f"bench-{uuid.uuid4()}",
            "ODB_SMTP__PORT": str(sink.port),
            "ODB_API__PORT": str(api_port),
            "ODB_WORKER__METRICS_PORT": str(free_port()),
            "ODB_STATE_DIR": str(folder / "state"),
            # A dev API with a secret of this run's own (as the dev stack runs it).
            "ODB_DEV_MODE": "1",
            "ODB_AUTH__DEV_SECRET": secrets.token_urlsafe(32),
        }
        child_env = {**os.environ, **overrides}
        procs: list[subprocess.Popen[bytes]] = []
        try:
            settings = load_settings(
                postgres={"url": pg.dsn},
                smtp={"port": sink.port},
                dev_mode=True,
                auth={"dev_secret": overrides["ODB_AUTH__DEV_SECRET"]},
            )
            conn = await db.connect(settings)
            try:
                await migrate.migrate(conn)
                await providers.upsert(conn, ORG, "Bench Opleidingen vzw")
            finally:
                await conn.close()
            logs = folder / "logs"
            logs.mkdir()
            procs.append(_spawn([sys.executable, "worker.py"], child_env, logs / "worker.log"))
            procs.append(_spawn([sys.executable, "-m", "starter.api"], child_env, logs / "api.log"))
            base = f"http://127.0.0.1:{api_port}"
            await wait_http(f"{base}/health", 30)
            token = mint_dev_token(settings, "bench", org=ORG, roles=("provider",))
            await _load(base, token, n, rate)
            await _drained(env.client, n + 5)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=25)
                except subprocess.TimeoutExpired:
                    proc.kill()
            await env.shutdown()
            sink.stop()
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rate))
