"""Running a shard: in this process (the test suite), or as a process of its own (the
command, which runs several)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from bench.decade.params import Params
from bench.decade.results import ShardResult
from bench.decade.servers import quiet_logging, shard_servers
from bench.decade.shard import Shard, ShardConfig


async def run_shard(params: Params, dsn: str, folder: Path, index: int = 0) -> ShardResult:
    """Plays shard `index` of `params` on its own time-skipping server, against the empty,
    migrated database `dsn`."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = ShardConfig(
        index=index,
        params=params,
        trainings=params.shard_trainings()[index],
        folder=folder,
        shards=params.shards,
    )
    async with shard_servers(dsn, folder, index) as servers:
        shard = Shard(cfg, servers.env, servers.pool, servers.settings, servers.sink)
        return await shard.run()


async def shard_process(index: int, dsn: str, params_file: Path, folder: Path) -> int:
    """A shard as a process: progress on stdout, the result in `folder/result.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    quiet_logging(folder)
    progress = logging.StreamHandler(sys.stdout)
    progress.setLevel(logging.WARNING)
    progress.addFilter(lambda record: "VIOLATION" not in record.getMessage())
    logging.getLogger("bench.decade").addHandler(progress)
    params = Params.from_dict(json.loads(params_file.read_text()))
    result = await run_shard(params, dsn, folder, index)
    (folder / "result.json").write_text(json.dumps(result.to_json(), default=str))
    return 0
