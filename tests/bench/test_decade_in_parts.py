"""A decade played in parts is the decade played whole: each finished shard's result is kept
in the report folder as soon as it is in, and `resume` plays only the shards missing there
(on a busy machine the full run outlasts a working session: docs/decade.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bench.decade.params import Faults, ParamError, Params
from bench.decade.play import play_shards

pytestmark = pytest.mark.timeout(600)

# Two shards of two trainings, one year, no faults and no sampled checks: the least that
# still has a shard to go on with (the decade's own test plays the faults and the checks).
PARAMS = Params(
    trainings=4,
    years=1,
    start_year=date.today().year + 1,  # the test server starts today; time only moves on
    seed=20270301,
    shard_size=2,
    parallel=2,
    agree_sample=0,
    history_sample=0,
    as_of_sample=0,
    faults=Faults(smtp_outages_per_year=0, worker_restarts_per_year=0, deploys_per_year=0),
)


def figures_of(index: Path) -> str:
    """The department's figures of every year in the report (not where the time went)."""
    return index.read_text().split("## The department's figures")[1].split("\n## ")[0]


async def test_a_decade_stopped_midway_goes_on_with_the_missing_shards_and_ends_the_same(
    pg_dsn: str, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    whole = await play_shards(PARAMS, out, pg_dsn=pg_dsn, db_prefix="whole_")
    assert whole.violations == 0
    kept = out / "shards"
    assert sorted(p.name for p in kept.iterdir()) == ["shard-0.json", "shard-1.json"]
    figures_whole = figures_of(whole.index)

    (kept / "shard-1.json").unlink()  # the run stopped before shard 1 was in
    parts = await play_shards(PARAMS, out, resume=True, pg_dsn=pg_dsn, db_prefix="parts_")

    assert [r.shard for r in parts.results] == [0, 1]
    # Shard 1 played again, shard 0 not: the same events, the same figures.
    assert [r.digest for r in parts.results] == [r.digest for r in whole.results]
    assert figures_of(parts.index) == figures_whole
    assert f"resumed: shards 0 played on {date.today().isoformat()}" in parts.index.read_text()
    assert sorted(p.name for p in kept.iterdir()) == ["shard-0.json", "shard-1.json"]

    # Another seed cannot go on from these shards: refused before anything is played, and
    # the kept shards stay.
    other = Params(**{**PARAMS.__dict__, "seed": PARAMS.seed + 1})
    with pytest.raises(ParamError, match=r"--resume: .*shard-0\.json was played with other"):
        await play_shards(other, out, resume=True, pg_dsn=pg_dsn, db_prefix="other_")
    assert sorted(p.name for p in kept.iterdir()) == ["shard-0.json", "shard-1.json"]

    # A file there that is no kept shard (cut short, edited by hand) is named, not played over.
    (kept / "shard-2.json").write_text('{"params": {"seed": 1}}')
    with pytest.raises(ParamError, match=r"shard-2\.json is not a kept shard.*remove it"):
        await play_shards(PARAMS, out, resume=True, pg_dsn=pg_dsn, db_prefix="bad_")
