"""What the web benches (bench/web_pages.py, web_bec_pages.py, web_department.py) share: a
registry seeded as bench.reads seeds it in an embedded PostgreSQL, the dev OpenID provider
and the web application (`python -m starter.web`) as their own processes over it, sign-in
of a persona through the provider's page, and the timed reading of pages over HTTP.

No Temporal server runs: a page that reads needs none (the web process is given an address
where nothing listens).

    async with seeded_registry("odb-bench-web-", args) as registry:
        ...  # read or adjust the seeded rows at registry.dsn
        async with web_processes(registry) as site, httpx.AsyncClient(timeout=30) as http:
            await sign_in(http, site, "voc_reviewer")
            times, largest = await measure(http, site.web, paths)
            report("worklist page", times, largest)
"""

from __future__ import annotations

import argparse
import html
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.api_load import wait_http
from bench.reads import pct, seed
from devstack import oidc_provider
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from runtime.settings import PROJECT_ROOT
from starter.web.signin import CALLBACK


@dataclass(frozen=True)
class Registry:
    folder: Path  # the run's temporary folder (PostgreSQL's data, the processes' logs)
    dsn: str


@dataclass(frozen=True)
class Site:
    web: str  # the web application's address
    provider: str  # the dev OpenID provider's address


def scale_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The seeded register's size and the dossier pages read, the same in every web bench."""
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--review", type=int, default=5_000)
    parser.add_argument("--dossiers", type=int, default=300, help="dossier pages read")
    parser.add_argument("--seed", type=int, default=1)
    return parser


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


@asynccontextmanager
async def seeded_registry(prefix: str, args: argparse.Namespace) -> AsyncIterator[Registry]:
    """An embedded PostgreSQL in a temporary folder, seeded with `args.cases` cases
    (`args.review` waiting for the VOC); stopped and removed after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        folder = Path(tmp)
        pg = EmbeddedPostgres(folder / "pg", free_port())
        pg.start()
        try:
            t0 = time.perf_counter()
            await seed(pg.dsn, args.cases, args.review, args.seed)
            print(f"seeded {args.cases} cases in {time.perf_counter() - t0:.0f} s", flush=True)
            yield Registry(folder, pg.dsn)
        finally:
            pg.stop()


@asynccontextmanager
async def web_processes(registry: Registry) -> AsyncIterator[Site]:
    """The dev OpenID provider and `python -m starter.web` over the registry, until both
    answer; terminated after."""
    folder = registry.folder
    web_port, idp_port = free_port(), free_port()
    site = Site(f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{idp_port}")
    secret_file = oidc_provider.client_secret_file(folder / "state")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ODB_")},
        "DATABASE_URL": registry.dsn,
        "ODB_TEMPORAL__ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens
        "ODB_STATE_DIR": str(folder / "state"),
        "ODB_DEV_MODE": "1",
        "ODB_AUTH__DEV_SECRET": secrets.token_urlsafe(32),
        "ODB_WEB__PORT": str(web_port),
        "ODB_WEB__OIDC_ISSUER": site.provider,
        "ODB_WEB__OIDC_CLIENT_ID": "bench",
        "ODB_WEB__OIDC_CLIENT_SECRET": secret_file.read_text().strip(),
    }
    python = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            spawn(
                [python, "-m", "devstack.oidc_provider", "--port", str(idp_port),
                 "--client-id", "bench", "--client-secret-file", str(secret_file),
                 "--redirect-uri", site.web + CALLBACK],
                env,
                folder / "oidc.log",
            )
        )  # fmt: skip
        procs.append(spawn([python, "-m", "starter.web"], env, folder / "web.log"))
        await wait_http(f"{site.provider}/.well-known/openid-configuration", 30)
        await wait_http(f"{site.web}/health", 30)
        yield site
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)


async def sign_in(
    http: httpx.AsyncClient, web: str, provider: str, persona: str = "voc_reviewer"
) -> None:
    """`persona` (a key of devstack.oidc_provider.PERSONAS) signs in: the session's cookie
    stays in `http`."""
    to_provider = await http.get(f"{web}/aanmelden")
    params = dict(httpx.URL(to_provider.headers["location"]).params)
    back = await http.post(f"{provider}/authorize", data={**params, "persona": persona})
    done = await http.get(back.headers["location"])
    assert done.status_code == 303, done.text


async def measure(http: httpx.AsyncClient, web: str, paths: list[str]) -> tuple[list[float], int]:
    """Each path read once, one after another: the times (ms) and the largest page (bytes)."""
    times, largest = [], 0
    for path in paths:
        start = time.perf_counter()
        answer = await http.get(web + path)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
        largest = max(largest, len(answer.content))
    return times, largest


def report(name: str, times: list[float], largest: int, width: int = 14) -> None:
    print(
        f"{name:<{width}} {len(times):>4} reads  p50 {pct(times, 0.5):6.1f} ms  "
        f"p99 {pct(times, 0.99):6.1f} ms  largest {largest / 1024:.1f} KB",
        flush=True,
    )


async def cursor_paths(
    http: httpx.AsyncClient, web: str, pages: int, first: str, link: re.Pattern[str]
) -> list[str]:
    """A list's pages, following its "next" link (matched by `link`) from `first`, at most
    `pages` of them."""
    paths, path = [], first
    for _ in range(pages):
        paths.append(path)
        found = link.search((await http.get(web + path)).text)
        if not found:
            break
        path = html.unescape(found.group(1))
    return paths
