"""The department's pages at the register's scale, through the real web process over HTTP,
as bench/web_pages.py measures the reviewer's: `--cases` cases seeded as bench.reads seeds
them, `python -m starter.web` signed in through the dev OpenID provider as the department,
then each department page read `--reads` times and `--dossiers` dossier pages. No Temporal
server runs: these pages read the registry. Targets (issue 28): p99 < 100 ms, < 100 KB.
The processes and the timing: bench.web_stack.

    .venv/bin/python -m bench.web_department                      # 100,000 cases
    .venv/bin/python -m bench.web_department --cases 20000        # a quick try
"""

from __future__ import annotations

import argparse
import asyncio
import random

import asyncpg
import httpx

from bench.web_stack import (
    measure,
    report,
    scale_arguments,
    seeded_registry,
    sign_in,
    web_processes,
)

PAGES = (
    "/departement",
    "/departement/organisaties",
    "/departement/opvolging",
    "/departement/screening",
    "/departement/bewaring",
)


async def main(args: argparse.Namespace) -> None:
    async with seeded_registry("odb-bench-dept-", args) as registry:
        conn = await asyncpg.connect(registry.dsn)
        every = [r["dossier"] for r in await conn.fetch("SELECT dossier FROM applications")]
        providers = await conn.fetchval("SELECT count(*) FROM providers")
        await conn.close()
        print(f"{providers} providers in the register", flush=True)
        async with web_processes(registry) as site, httpx.AsyncClient(timeout=30) as http:
            web = site.web
            await sign_in(http, web, site.provider, "department")
            rng = random.Random(args.seed)
            dossiers = [f"/departement/dossiers/{rng.choice(every)}" for _ in range(args.dossiers)]
            await measure(http, web, list(PAGES) + dossiers[:3])  # warm up
            runs = [(p, [p] * args.reads) for p in PAGES] + [("dossier page", dossiers)]
            for name, paths in runs:
                times, largest = await measure(http, web, paths)
                report(name, times, largest, width=26)


if __name__ == "__main__":
    parser = scale_arguments(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--reads", type=int, default=100, help="reads of each list page")
    asyncio.run(main(parser.parse_args()))
