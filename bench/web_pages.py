"""The reviewer's pages at the register's scale, through the real web process over HTTP:
the registry holds `--cases` cases (`--review` waiting for the VOC), seeded as bench.reads
seeds them; the web application (`python -m starter.web`) signs in through the dev OpenID
provider (`devstack.oidc_provider`) as a VOC reviewer, then reads worklist pages (first
page and on by cursor) and dossier pages one after another. No Temporal server runs: a page
that reads needs none. Targets (issue 28): every page p99 < 100 ms, under 100 KB. The
provider's pages (issue 29) are read the same way, signed in as organisation A, which takes
over one seeded organisation's dossiers. The processes and the timing: bench.web_stack.

    .venv/bin/python -m bench.web_pages                        # 100,000 cases, 5,000 for VOC
    .venv/bin/python -m bench.web_pages --cases 20000 --review 1000   # a quick try
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
from devstack import oidc_provider

_NEXT = re.compile(r'href="(/beoordelen\?cursor=[^"]+)"')
_NEXT_OWN = re.compile(r'href="(/mijn-dossiers\?cursor=[^"]+)"')
# The provider persona's organisation takes over one seeded organisation's dossiers
# (1 in bench.reads.PROVIDERS: 500 of 100,000), so its pages read a real share.
OWN = oidc_provider.PERSONAS["provider"].org


async def take_over_one_organisation(dsn: str) -> list[str]:
    """Organisation A (the provider persona's) takes over one seeded organisation's
    dossiers; their numbers."""
    conn = await asyncpg.connect(dsn)
    try:
        taken = await conn.fetchval("SELECT provider FROM applications LIMIT 1")
        await conn.execute(
            "INSERT INTO providers (enterprise_number, name, contact_email) "
            "SELECT $1, 'Organisatie A', contact_email FROM providers "
            "WHERE enterprise_number = $2",
            OWN,
            taken,
        )
        for table in ("applications", "case_rows"):
            await conn.execute(f"UPDATE {table} SET provider = $1 WHERE provider = $2", OWN, taken)
        await conn.execute(
            "UPDATE case_rows SET status = jsonb_set(status, '{provider}', to_jsonb($1::text)) "
            "WHERE provider = $1",
            OWN,
        )
        return [
            r["dossier"]
            for r in await conn.fetch("SELECT dossier FROM applications WHERE provider = $1", OWN)
        ]
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    async with seeded_registry("odb-bench-web-", args) as registry:
        conn = await asyncpg.connect(registry.dsn)
        waiting = [
            r["dossier"]
            for r in await conn.fetch(
                "SELECT dossier FROM applications WHERE state = 'under_review'"
            )
        ]
        await conn.close()
        own = await take_over_one_organisation(registry.dsn)
        async with web_processes(registry) as site:
            web = site.web
            async with httpx.AsyncClient(timeout=30) as http:
                await sign_in(http, web, site.provider)
                lists = await cursor_paths(http, web, args.pages, "/beoordelen", _NEXT)
                rng = random.Random(args.seed)
                dossiers = [f"/beoordelen/{rng.choice(waiting)}" for _ in range(args.dossiers)]
                await measure(http, web, lists[:3] + dossiers[:3])  # warm up
                for name, paths in (("worklist page", lists), ("dossier page", dossiers)):
                    times, largest = await measure(http, web, paths)
                    report(name, times, largest)
            # The provider's pages (issue 29): its list by cursor and its dossiers.
            async with httpx.AsyncClient(timeout=30) as http:
                await sign_in(http, web, site.provider, "provider")
                mine = await cursor_paths(http, web, args.pages, "/mijn-dossiers", _NEXT_OWN)
                opened = [f"/mijn-dossiers/{rng.choice(own)}" for _ in range(args.dossiers)]
                await measure(http, web, mine[:3] + opened[:3])  # warm up
                for name, paths in (("my dossiers", mine), ("my dossier", opened)):
                    times, largest = await measure(http, web, paths)
                    report(name, times, largest)


if __name__ == "__main__":
    parser = scale_arguments(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--pages", type=int, default=100, help="worklist pages read")
    asyncio.run(main(parser.parse_args()))
