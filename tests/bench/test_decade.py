"""The ten-year simulation, small: a slice of the register played day by day for a few
years on its own time-skipping server, through the HTTP API app, the real worker,
PostgreSQL and the SMTP sink, with every invariant checked each simulated day (see
bench/decade). The full size is a benchmark: `python -m bench.decade` (README).

Sized to the suite's budget (about 90-120 s on the shared 2-core machine): 100 trainings
for 3 years, with the whole plan of faults (SMTP outages, some over midnight with a
refusal decided during them, worker restarts graceful and abrupt, a deploy with a new patch
each year). Three years hold the first screening, the first removals (31 December of the
next year), a second screening and, from 2027, a leap year."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio

from bench.decade import report
from bench.decade.params import Params
from bench.decade.run import run_shard
from bench.decade.servers import create_database, drop_database

pytestmark = pytest.mark.timeout(300)

TRAININGS = 100
YEARS = 3


@pytest_asyncio.fixture(loop_scope="session")
async def decade_db(pg_dsn: str) -> AsyncIterator[str]:
    """A database of its own: the screening screens every registered training it holds."""
    dsn = await create_database(pg_dsn, "decade_suite")
    try:
        yield dsn
    finally:
        await drop_database(pg_dsn, "decade_suite")


async def test_a_small_decade_keeps_every_promise_every_day(
    decade_db: str, tmp_path: Path
) -> None:
    params = Params(
        trainings=TRAININGS,
        years=YEARS,
        start_year=date.today().year + 1,  # the test server starts today; time only moves on
        seed=20270115,
        shard_size=TRAININGS,
        parallel=1,
    )
    result = await run_shard(params, decade_db, tmp_path / "shard-0")
    index = report.write(tmp_path / "report", params, [result], wall_seconds=1, peak_rss={})

    lines = "\n".join(v.line() for v in result.violations[:30])
    assert result.violations_total == 0, f"{result.violations_total} violations:\n{lines}"
    assert [y.year for y in result.years] == [params.start_year + i for i in range(YEARS)]
    counts: Counter[str] = Counter()
    for y in result.years:
        counts.update(y.counts)
        assert len(y.registered_by_day) in (365, 366)
    # The decade did happen: every kind of event, every check, every fault.
    assert counts["days_checked"] == sum(len(y.registered_by_day) for y in result.years)
    for what in ("screened", "negative", "removed", "submitted", "approved", "refused",
                 "appeals_portal", "refusals_final", "notices_checked", "agreement_checked",
                 "as_of_checked", "described", "smtp_outages", "worker_restarts", "deploys"):
        assert counts[what] > 0, what  # fmt: skip
    assert 0 < result.largest_history < 2000
    assert index.exists() and (tmp_path / "report" / f"year-{params.start_year}.html").exists()
