"""The BEC's pages at the register's scale, through the real web process over HTTP: the
registry seeded as bench.reads seeds it (`--cases` cases, about 0.8 % of them in appeal at
the BEC), the web application (`python -m starter.web`) signed in through the dev OpenID
provider as the BEC, then the open appeals page by page (by cursor) and dossier pages of
cases in appeal (each with its deadlines counted) one after another. Targets (issue 28):
every page p99 < 100 ms, under 100 KB. The processes and the timing: bench.web_stack.

    .venv/bin/python -m bench.web_bec_pages                   # 100,000 cases
    .venv/bin/python -m bench.web_bec_pages --cases 20000     # a quick try
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re

import asyncpg
import httpx

from bench.web_stack import (
    cursor_paths,
    measure,
    report,
    scale_arguments,
    seeded_registry,
    sign_in,
    web_processes,
)

_NEXT = re.compile(r'href="(/beroepen\?cursor=[^"]+)"')


async def main(args: argparse.Namespace) -> None:
    async with seeded_registry("odb-bench-bec-", args) as registry:
        conn = await asyncpg.connect(registry.dsn)
        appealed = [
            r["dossier"]
            for r in await conn.fetch("SELECT dossier FROM case_rows WHERE waiting_for = 'bec'")
        ]
        await conn.close()
        print(f"{len(appealed)} appeals open at the BEC", flush=True)
        async with web_processes(registry) as site, httpx.AsyncClient(timeout=30) as http:
            web = site.web
            await sign_in(http, web, site.provider, "bec")
            lists = await cursor_paths(http, web, args.pages, "/beroepen", _NEXT)
            rng = random.Random(args.seed)
            dossiers = [f"/beroepen/{rng.choice(appealed)}" for _ in range(args.dossiers)]
            await measure(http, web, lists[:3] + dossiers[:3])  # warm up
            for name, paths in (("appeals page", lists), ("dossier page", dossiers)):
                times, largest = await measure(http, web, paths)
                report(name, times, largest)


if __name__ == "__main__":
    parser = scale_arguments(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--pages", type=int, default=100, help="appeals pages read (at most)")
    asyncio.run(main(parser.parse_args()))
