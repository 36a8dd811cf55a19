"""The API process on an embedded PostgreSQL of its own, with no Temporal server: what the
benchmarks of portal reads and exports need (none of their requests asks Temporal)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.api_load import wait_http
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from runtime.settings import PROJECT_ROOT, Settings, load_settings
from starter.auth import mint_dev_token


@dataclass(frozen=True)
class RegistryApi:
    base: str
    pid: int
    settings: Settings  # dev mode, with the process's dev secret

    def token(self, *roles: str, org: str | None = None) -> str:
        return mint_dev_token(self.settings, "bench", org=org, roles=roles)


@asynccontextmanager
async def registry_api(
    folder: Path, seed: Callable[[str], Awaitable[None]], pool_max: int = 10
) -> AsyncIterator[RegistryApi]:
    """Starts PostgreSQL in `folder`, runs `seed(dsn)`, then starts `python -m starter.api`
    on it; stops both on the way out."""
    pg = EmbeddedPostgres(folder / "pg", free_port())
    pg.start()
    api: subprocess.Popen[bytes] | None = None
    try:
        await seed(pg.dsn)
        port, secret = free_port(), secrets.token_urlsafe(32)
        env = {
            **os.environ,
            "DATABASE_URL": pg.dsn,
            "ODB_TEMPORAL__ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens: not needed
            "ODB_API__PORT": str(port),
            "ODB_STATE_DIR": str(folder / "state"),
            "ODB_DEV_MODE": "1",
            "ODB_AUTH__DEV_SECRET": secret,
            "ODB_POSTGRES__POOL_MAX": str(pool_max),
        }
        api = subprocess.Popen(
            [sys.executable, "-m", "starter.api"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=(folder / "api.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        await wait_http(f"{base}/health", 30)
        yield RegistryApi(
            base, api.pid, load_settings(dev_mode=True, auth={"dev_secret": secret})
        )
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=20)
        pg.stop()
