"""Playing the decade: every shard as a process of its own (its own time-skipping server
and database), `--parallel` at a time, then the report. The command (`__main__.py`) and the
test suite's variant (tests/bench/test_decade.py) both play it through here."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import psutil

from bench.decade import report
from bench.decade.params import ParamError, Params
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


class PlayedShards:
    """Each finished shard's result, kept in `out/shards/` as soon as it is in: a run that
    stops (a machine's session ends, a crash) goes on with `resume`, playing only the shards
    missing there. Shards are independent slices with their own seed, so a decade played in
    parts is the same decade played whole (their event digests say so)."""

    def __init__(self, out: Path, params: Params, resume: bool) -> None:
        self.folder = out / "shards"
        self._same = _played_alike(params)
        self._commit = _commit()  # the code this run plays, not what HEAD is when it ends
        if not resume:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.kept: dict[int, dict[str, Any]] = {}
        self._results: dict[int, ShardResult] = {}
        for path in sorted(self.folder.glob("shard-*.json")):
            try:
                kept = json.loads(path.read_text())
                alike = _played_alike(Params.from_dict(dict(kept["params"]))) == self._same
                result = ShardResult.from_json(kept["result"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ParamError(
                    f"--resume: {path} is not a kept shard ({exc!r}); remove it, and that "
                    "shard is played again"
                ) from exc
            if not alike:
                raise ParamError(
                    f"--resume: {path} was played with other parameters than these (its "
                    '"params" says which): give the same, or choose another --out'
                )
            self.kept[result.shard] = kept
            self._results[result.shard] = result

    def results(self) -> list[ShardResult]:
        return list(self._results.values())

    def keep(self, params: Params, result: ShardResult) -> None:
        kept = {
            "params": params.as_dict(),
            "commit": self._commit,
            "played_on": date.today().isoformat(),
            "result": result.to_json(),
        }
        path = self.folder / f"shard-{result.shard}.json"
        path.with_suffix(".tmp").write_text(json.dumps(kept, default=str))
        path.with_suffix(".tmp").replace(path)
        self.kept[result.shard] = kept
        self._results[result.shard] = result

    def notes(self, resumed: list[int]) -> list[str]:
        if not resumed:
            return []
        parts: dict[tuple[str, str], list[int]] = {}
        for shard in resumed:
            k = self.kept[shard]
            parts.setdefault((k["played_on"], k["commit"][:12]), []).append(shard)
        return [
            f"resumed: shards {', '.join(map(str, shards))} played on {day} at commit "
            f"{commit} (their results kept in {self.folder}); the wall time above is this "
            "run's only"
            for (day, commit), shards in sorted(parts.items())
        ]


def _played_alike(params: Params) -> dict[str, Any]:
    # How many shards run at once changes the wall time, not the decade.
    return {k: v for k, v in params.as_dict().items() if k != "parallel"}


def _commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
        cwd=Path(__file__).parent,
    )  # fmt: skip
    return found.stdout.strip() or "unknown"


async def play_shards(
    params: Params,
    out: Path,
    *,
    keep: bool = False,
    resume: bool = False,
    pg_dsn: str | None = None,
    db_prefix: str = "",
) -> Decade:
    """Plays every shard, `params.parallel` at a time, each as a process of its own with its
    own time-skipping server and database, and writes the report to `out`.

    `resume`: play only the shards whose results are not yet kept in `out/shards/`.
    `pg_dsn`: a running PostgreSQL to make the shards' databases on (the test suite's);
    without it, an embedded one of this run's own. `db_prefix` keeps their names apart from
    other databases on a shared server."""
    out.mkdir(parents=True, exist_ok=True)
    played = PlayedShards(out, params, resume)
    resumed = sorted(played.kept)
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
    results: list[ShardResult] = played.results()
    print(
        f"{params.trainings} trainings x {params.years} years from {params.start_year}, seed "
        f"{params.seed}: {params.shards} shard(s), {params.parallel} at a time; report in {out}",
        flush=True,
    )
    if resumed:
        print(f"resumed: shards {', '.join(map(str, resumed))} are kept in {played.folder}")

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
                result = ShardResult.from_json(json.loads(found.read_text()))
                results.append(result)
                played.keep(params, result)
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
        await asyncio.gather(*(one(i) for i in range(params.shards) if i not in played.kept))
    finally:
        peak = memory.stop()
        if pg is not None:
            pg.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    results.sort(key=lambda r: r.shard)
    wall = time.monotonic() - t0
    index = report.write(
        out, params, results, wall_seconds=wall, peak_rss=peak, notes=played.notes(resumed)
    )
    return Decade(results, wall, peak, index)
