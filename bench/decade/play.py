"""Playing the decade: every shard as a process of its own (its own time-skipping server
and database), `--parallel` at a time, then the report. The command (`__main__.py`) and the
test suite's variant (tests/bench/test_decade.py) both play it through here."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.decade import report
from bench.decade.params import Params
from bench.decade.results import ShardResult, Violation
from bench.decade.servers import create_database, drop_database
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres


class Memory:
    """Peak resident memory of this command's processes, by kind, sampled each second."""

    KINDS = {"temporal-test-server": "time-skipping servers", "postgres": "PostgreSQL"}

    def __init__(self) -> None:
        self.peak: dict[str, int] = {}
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        me = psutil.Process()
        while True:
            totals: dict[str, int] = {}
            try:
                procs = me.children(recursive=True)
            except psutil.Error:
                procs = []
            for proc in procs:
                try:
                    name = proc.name()
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                kind = next((k for n, k in self.KINDS.items() if n in name), "shard processes")
                totals[kind] = totals.get(kind, 0) + rss
            totals["all"] = sum(totals.values())
            for k, v in totals.items():
                self.peak[k] = max(self.peak.get(k, 0), v)
            await asyncio.sleep(1)

    def stop(self) -> dict[str, int]:
        self._task.cancel()
        return dict(self.peak)


@dataclasses.dataclass
class Decade:
    """What a played decade hands back: each shard's result and the report written."""

    results: list[ShardResult]
    wall_seconds: float
    peak_rss: dict[str, int]
    index: Path

    @property
    def violations(self) -> int:
        return sum(r.violations_total for r in self.results)


async def play_shards(
    params: Params,
    out: Path,
    *,
    keep: bool = False,
    pg_dsn: str | None = None,
    db_prefix: str = "",
) -> Decade:
    """Plays every shard, `params.parallel` at a time, each as a process of its own with its
    own time-skipping server and database, and writes the report to `out`.

    `pg_dsn`: a running PostgreSQL to make the shards' databases on (the test suite's);
    without it, an embedded one of this run's own. `db_prefix` keeps their names apart from
    other databases on a shared server."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="odb-decade-")) if not keep else out / "work"
    pg = None if pg_dsn else EmbeddedPostgres(work / "pg", free_port())
    if pg is not None:
        pg.start()
    server_dsn = pg.dsn if pg is not None else str(pg_dsn)
    memory = Memory()
    params_file = out / "params.json"
    params_file.write_text(json.dumps(params.as_dict(), indent=1))
    gate = asyncio.Semaphore(params.parallel)
    results: list[ShardResult] = []
    print(
        f"{params.trainings} trainings x {params.years} years from {params.start_year}, seed "
        f"{params.seed}: {params.shards} shard(s), {params.parallel} at a time; report in {out}",
        flush=True,
    )

    async def one(index: int) -> None:
        async with gate:
            name = f"{db_prefix}shard_{index}"
            dsn = await create_database(server_dsn, name)
            folder = (out if keep else work) / f"shard-{index}"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.decade", "--run-shard", str(index),
                "--dsn", dsn, "--params", str(params_file), "--folder", str(folder),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            assert proc.stdout is not None
            tail: list[str] = []
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                tail = [*tail, line][-40:]
                if line.startswith("shard ") or "error" in line.lower():
                    print(f"  [{time.monotonic() - t0:6.0f} s] {line}", flush=True)
            code = await proc.wait()
            found = folder / "result.json"
            if code == 0 and found.exists():
                results.append(ShardResult.from_json(json.loads(found.read_text())))
            else:
                print("\n".join(tail), file=sys.stderr)
                failed = ShardResult(shard=index, trainings=0)
                failed.violations_total = 1
                failed.violations = [
                    Violation("-", "shard-failed", "", f"exit {code}: {tail[-1:]}", index)
                ]
                results.append(failed)
            if not keep:
                await drop_database(server_dsn, name)

    try:
        await asyncio.gather(*(one(i) for i in range(params.shards)))
    finally:
        peak = memory.stop()
        if pg is not None:
            pg.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    results.sort(key=lambda r: r.shard)
    wall = time.monotonic() - t0
    index = report.write(out, params, results, wall_seconds=wall, peak_rss=peak)
    return Decade(results, wall, peak, index)
