"""The reviewer's pages at the register's scale, through the real web process over HTTP:
the registry holds `--cases` cases (`--review` waiting for the VOC), seeded as bench.reads
seeds them; the web application (`python -m starter.web`) signs in through the dev OpenID
provider (`devstack.oidc_provider`) as a VOC reviewer, then reads worklist pages (first
page and on by cursor) and dossier pages one after another. No Temporal server runs: a page
that reads needs none. Targets (issue 28): every page p99 < 100 ms, under 100 KB. The
provider's pages (issue 29) are read the same way, signed in as organisation A, which takes
over one seeded organisation's dossiers.

    .venv/bin/python -m bench.web_pages                        # 100,000 cases, 5,000 for VOC
    .venv/bin/python -m bench.web_pages --cases 20000 --review 1000   # a quick try
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
from devstack import oidc_provider
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from runtime.settings import PROJECT_ROOT
from starter.web.signin import CALLBACK

_NEXT = re.compile(r'href="(/beoordelen\?cursor=[^"]+)"')
_NEXT_OWN = re.compile(r'href="(/mijn-dossiers\?cursor=[^"]+)"')
# The provider persona's organisation takes over one seeded organisation's dossiers
# (1 in bench.reads.PROVIDERS: 500 of 100,000), so its pages read a real share.
OWN = oidc_provider.PERSONAS["provider"].org


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


async def sign_in(
    http: httpx.AsyncClient, web: str, provider: str, persona: str = "voc_reviewer"
) -> None:
    to_provider = await http.get(f"{web}/aanmelden")
    authorize = to_provider.headers["location"]
    params = dict(httpx.URL(authorize).params)
    back = await http.post(f"{provider}/authorize", data={**params, "persona": persona})
    done = await http.get(back.headers["location"])
    assert done.status_code == 303, done.text


async def measure(http: httpx.AsyncClient, web: str, paths: list[str]) -> tuple[list[float], int]:
    times, largest = [], 0
    for path in paths:
        start = time.perf_counter()
        answer = await http.get(web + path)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
        largest = max(largest, len(answer.content))
    return times, largest


def report(name: str, times: list[float], largest: int) -> None:
    print(
        f"{name:<14} {len(times):>4} reads  p50 {pct(times, 0.5):6.1f} ms  "
        f"p99 {pct(times, 0.99):6.1f} ms  largest {largest / 1024:.1f} KB",
        flush=True,
    )


async def worklist_paths(
    http: httpx.AsyncClient,
    web: str,
    pages: int,
    first: str = "/beoordelen",
    link: re.Pattern[str] = _NEXT,
) -> list[str]:
    paths, path = [], first
    for _ in range(pages):
        paths.append(path)
        found = link.search((await http.get(web + path)).text)
        if not found:
            break
        path = html.unescape(found.group(1))
    return paths


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="odb-bench-web-") as tmp:
        folder = Path(tmp)
        pg = EmbeddedPostgres(folder / "pg", free_port())
        pg.start()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            t0 = time.perf_counter()
            await seed(pg.dsn, args.cases, args.review, args.seed)
            print(f"seeded {args.cases} cases in {time.perf_counter() - t0:.0f} s", flush=True)
            conn = await asyncpg.connect(pg.dsn)
            waiting = [
                r["dossier"]
                for r in await conn.fetch(
                    "SELECT dossier FROM applications WHERE state = 'under_review'"
                )
            ]
            taken = await conn.fetchval("SELECT provider FROM applications LIMIT 1")
            await conn.execute(
                "INSERT INTO providers (enterprise_number, name, contact_email) "
                "SELECT $1, 'Organisatie A', contact_email FROM providers "
                "WHERE enterprise_number = $2",
                OWN,
                taken,
            )
            for table in ("applications", "case_rows"):
                await conn.execute(
                    f"UPDATE {table} SET provider = $1 WHERE provider = $2", OWN, taken
                )
            await conn.execute(
                "UPDATE case_rows SET status = jsonb_set(status, '{provider}', to_jsonb($1::text)) "
                "WHERE provider = $1",
                OWN,
            )
            own = [
                r["dossier"]
                for r in await conn.fetch(
                    "SELECT dossier FROM applications WHERE provider = $1", OWN
                )
            ]
            await conn.close()
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
                await sign_in(http, web, provider)
                lists = await worklist_paths(http, web, args.pages)
                rng = random.Random(args.seed)
                dossiers = [f"/beoordelen/{rng.choice(waiting)}" for _ in range(args.dossiers)]
                await measure(http, web, lists[:3] + dossiers[:3])  # warm up
                for name, paths in (("worklist page", lists), ("dossier page", dossiers)):
                    times, largest = await measure(http, web, paths)
                    report(name, times, largest)
            # The provider's pages (issue 29): its list by cursor and its dossiers.
            async with httpx.AsyncClient(timeout=30) as http:
                await sign_in(http, web, provider, "provider")
                mine = await worklist_paths(http, web, args.pages, "/mijn-dossiers", _NEXT_OWN)
                opened = [f"/mijn-dossiers/{rng.choice(own)}" for _ in range(args.dossiers)]
                await measure(http, web, mine[:3] + opened[:3])  # warm up
                for name, paths in (("my dossiers", mine), ("my dossier", opened)):
                    times, largest = await measure(http, web, paths)
                    report(name, times, largest)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=20)
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--review", type=int, default=5_000)
    parser.add_argument("--pages", type=int, default=100, help="worklist pages read")
    parser.add_argument("--dossiers", type=int, default=300, help="dossier pages read")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
