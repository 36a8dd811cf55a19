"""The department's export of everything held about one organisation, at the size of a large
provider: `--dossiers` dossiers of one organisation seeded straight into PostgreSQL (as
bench.reads does) and `--documents` motivation documents of `--mb` MB each, half of them
attached to its dossiers, half only uploaded. One GET /providers/{number}/export through the
real API process; its resident memory is sampled every 10 ms while it answers.

    .venv/bin/python -m bench.provider_export                      # 300 dossiers, 40 x 10 MB
    .venv/bin/python -m bench.provider_export --documents 10 --mb 5   # a quick try

Prints the API's RSS before and at its peak during the export, the export's wall time and
size, and whether every part matches its manifest.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from activities.archives import verify
from bench.reads import enterprise_number, seed
from bench.registry_api import registry_api
from models.documents import DocumentType
from registry import db, documents
from runtime.settings import load_settings

MiB = 1 << 20


async def seed_documents(dsn: str, dossiers: list[str], count: int, size: int) -> None:
    """`count` documents of `size` bytes owned by the organisation; every other one attached
    to one of its dossiers. Random bytes: a scanned PDF compresses about as little."""
    conn = await db.connect(load_settings(postgres={"url": dsn}))
    try:
        for n in range(count):
            content = b"%PDF-1.7\n" + os.urandom(size - 9)
            record, _ = await documents.store(
                conn,
                content=content,
                sha256=hashlib.sha256(content).hexdigest(),
                media_type=DocumentType.PDF,
                name=f"motivatie-{n}.pdf",
                owner=enterprise_number(0),
                uploaded_by="bench",
            )
            if n % 2 == 0:
                await conn.execute(
                    "INSERT INTO document_dossiers (document_id, dossier) VALUES ($1, $2)",
                    record.id,
                    dossiers[n % len(dossiers)],
                )
    finally:
        await conn.close()


class PeakRss:
    """The largest resident set of a process, sampled in a thread every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def main(args: argparse.Namespace) -> None:
    async def seeded(dsn: str) -> None:
        dossiers = await seed(dsn, args.dossiers, 0, 1, provider_count=1)
        await seed_documents(dsn, dossiers, args.documents, int(args.mb * MiB))
        print(
            f"seeded {len(dossiers)} dossiers and {args.documents} documents of "
            f"{args.mb} MB for {enterprise_number(0)}",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="odb-bench-export-") as tmp:
        target = Path(tmp) / "export.zip"
        async with (
            registry_api(Path(tmp), seeded) as api,
            httpx.AsyncClient(base_url=api.base, timeout=600) as http,
        ):
            with PeakRss(api.pid) as rss:
                before = rss.peak
                start = time.perf_counter()
                async with http.stream(
                    "GET",
                    f"/providers/{enterprise_number(0)}/export",
                    headers={"Authorization": f"Bearer {api.token('department')}"},
                ) as answer:
                    answer.raise_for_status()
                    with target.open("wb") as f:
                        async for chunk in answer.aiter_bytes(MiB):
                            f.write(chunk)
                wall = time.perf_counter() - start
        problems = verify(target)
        print(
            f"export: {target.stat().st_size / MiB:.0f} MiB in {wall:.1f} s; API RSS "
            f"{before / MiB:.0f} MiB before, {rss.peak / MiB:.0f} MiB at the peak "
            f"(+{(rss.peak - before) / MiB:.0f} MiB); manifest: "
            f"{'every part matches' if not problems else problems[:3]}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dossiers", type=int, default=300)
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--mb", type=float, default=10.0, help="size of each document")
    asyncio.run(main(parser.parse_args()))
