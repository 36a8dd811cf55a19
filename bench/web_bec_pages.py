"""The BEC's pages at the register's scale, through the real web process over HTTP: the
registry seeded as bench.reads seeds it (`--cases` cases, about 0.8 % of them in appeal at
the BEC), the web application (`python -m starter.web`) signed in through the dev OpenID
provider as the BEC, then the open appeals page by page (by cursor) and dossier pages of
cases in appeal (each with its deadlines counted) one after another. Targets (issue 28):
every page p99 < 100 ms, under 100 KB. The process setup is bench.web_pages's.

    .venv/bin/python -m bench.web_bec_pages                   # 100,000 cases
    .venv/bin/python -m bench.web_bec_pages --cases 20000     # a quick try
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.api_load import wait_http
from bench.reads import pct, seed
from bench.web_pages import _spawn, measure
from devstack import oidc_provider
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from starter.web.signin import CALLBACK

_NEXT = re.compile(r'href="(/beroepen\?cursor=[^"]+)"')


async def sign_in(http: httpx.AsyncClient, web: str, provider: str, persona: str) -> None:
    to_provider = await http.get(f"{web}/aanmelden")
    params = dict(httpx.URL(to_provider.headers["location"]).params)
    back = await http.post(f"{provider}/authorize", data={**params, "persona": persona})
    done = await http.get(back.headers["location"])
    assert done.status_code == 303, done.text


async def list_paths(http: httpx.AsyncClient, web: str, pages: int) -> list[str]:
    paths, path = [], "/beroepen"
    for _ in range(pages):
        paths.append(path)
        found = _NEXT.search((await http.get(web + path)).text)
        if not found:
            break
        path = html.unescape(found.group(1))
    return paths


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="odb-bench-bec-") as tmp:
        folder = Path(tmp)
        pg = EmbeddedPostgres(folder / "pg", free_port())
        pg.start()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            t0 = time.perf_counter()
            await seed(pg.dsn, args.cases, args.review, args.seed)
            print(f"seeded {args.cases} cases in {time.perf_counter() - t0:.0f} s", flush=True)
            conn = await asyncpg.connect(pg.dsn)
            appealed = [
                r["dossier"]
                for r in await conn.fetch("SELECT dossier FROM case_rows WHERE waiting_for = 'bec'")
            ]
            await conn.close()
            print(f"{len(appealed)} appeals open at the BEC", flush=True)
            web_port, idp_port = free_port(), free_port()
            web, provider = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{idp_port}"
            secret_file = oidc_provider.client_secret_file(folder / "state")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("ODB_")},
                "DATABASE_URL": pg.dsn,
                "ODB_TEMPORAL__ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens
                "ODB_STATE_DIR": str(folder / "state"),
                "ODB_DEV_MODE": "1",
                "ODB_AUTH__DEV_SECRET": secrets.token_urlsafe(32),
                "ODB_WEB__PORT": str(web_port),
                "ODB_WEB__OIDC_ISSUER": provider,
                "ODB_WEB__OIDC_CLIENT_ID": "bench",
                "ODB_WEB__OIDC_CLIENT_SECRET": secret_file.read_text().strip(),
            }
            python = sys.executable
            procs.append(
                _spawn(
                    [python, "-m", "devstack.oidc_provider", "--port", str(idp_port),
                     "--client-id", "bench", "--client-secret-file", str(secret_file),
                     "--redirect-uri", web + CALLBACK],
                    env,
                    folder / "oidc.log",
                )
            )  # fmt: skip
            procs.append(_spawn([python, "-m", "starter.web"], env, folder / "web.log"))
            await wait_http(f"{provider}/.well-known/openid-configuration", 30)
            await wait_http(f"{web}/health", 30)
            async with httpx.AsyncClient(timeout=30) as http:
                await sign_in(http, web, provider, "bec")
                lists = await list_paths(http, web, args.pages)
                rng = random.Random(args.seed)
                dossiers = [f"/beroepen/{rng.choice(appealed)}" for _ in range(args.dossiers)]
                await measure(http, web, lists[:3] + dossiers[:3])  # warm up
                for name, paths in (("appeals page", lists), ("dossier page", dossiers)):
                    times, largest = await measure(http, web, paths)
                    print(
                        f"{name:<14} {len(times):>4} reads  p50 {pct(times, 0.5):6.1f} ms  "
                        f"p99 {pct(times, 0.99):6.1f} ms  largest {largest / 1024:.1f} KB",
                        flush=True,
                    )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=20)
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--review", type=int, default=5_000)
    parser.add_argument("--pages", type=int, default=100, help="appeals pages read (at most)")
    parser.add_argument("--dossiers", type=int, default=300, help="dossier pages read")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
