"""Ten years of 100 trainings: the register played day by day on the time-skipping server,
through the HTTP API app, the real worker, PostgreSQL and the SMTP sink, with every
invariant checked each simulated day (see bench/decade), and the department's figures of
every year (GET /reports/{year}) equal to what the simulation counted itself (the notices
sent, and sent late, within the bounds it draws from its own outages). The full size is a
benchmark: `python -m bench.decade` (docs/decade.md).

One shard of 100, a process of its own with its own time-skipping server, on the suite's
PostgreSQL, while the rest of the suite runs beside it on the other workers (docs/tests.md
has the figures); the full run's 17 shards prove that the shards' figures add up. Ten
years hold every screening, removals each 31 December of the next year, two leap years and
twenty clock changes, with the whole plan of faults (SMTP outages, some over midnight with a
refusal decided during them, worker restarts graceful and abrupt, a deploy with a new patch
each year). The outages are fewer and shorter than the benchmark's (two a year of 1-2
hours, not three of 1-4): a notice retries every 10 s of simulated time through an outage,
each retry is real work for the shard's worker, and it is the same work at every size."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from bench.decade.params import Faults, Params
from bench.decade.play import play_shards

# Measured on the shared 2-core machine beside the rest of the suite: see docs/tests.md. The
# limit leaves room for a loaded machine, not for a hang.
pytestmark = pytest.mark.timeout(900)

TRAININGS = 100
YEARS = 10
SHARD_SIZE = 100
# Figures of the report that must have happened in the decade (compared every year).
FIGURES_SEEN = ("stops", "revocations", "notices_sent", "notices_sent_late")


async def test_ten_years_of_100_trainings_keep_every_promise_every_day(
    pg_dsn: str, tmp_path: Path
) -> None:
    params = Params(
        trainings=TRAININGS,
        years=YEARS,
        start_year=date.today().year + 1,  # the test server starts today; time only moves on
        seed=20270115,
        shard_size=SHARD_SIZE,
        parallel=1,
        faults=Faults(smtp_outages_per_year=2.0, smtp_outage_hours=(1.0, 2.0)),
        # Of the unchanged cases, one as-of answer a day and no status query: a query
        # replays its case. A day's changed cases (up to a dozen) are all checked, one of
        # them by a status query; every live case is compared with the registry at the end.
        agree_sample=0,
        as_of_sample=1,
    )
    decade = await play_shards(params, tmp_path / "report", pg_dsn=pg_dsn, db_prefix="suite_")

    lines = "\n".join(v.line() for r in decade.results for v in r.violations[:30])
    assert decade.violations == 0, f"{decade.violations} violations:\n{lines}"
    assert [r.shard for r in decade.results] == [0]
    counts: Counter[str] = Counter()
    figures: Counter[str] = Counter()
    for result in decade.results:
        assert [y.year for y in result.years] == [params.start_year + i for i in range(YEARS)]
        for y in result.years:
            counts.update(y.counts)
            assert len(y.registered_by_day) in (365, 366)
            # The report of every year was compared with the simulation's own count.
            assert y.counts["figures_compared"] == 1, y.year
            assert y.counts["figures_differing"] == 0, y.year
            assert y.figures["all"]["received"] > 0 and y.figures["all"]["screened"] > 0
            # The notices within the bounds the simulation draws from its own outages.
            for figure in ("notices_sent", "notices_sent_late"):
                low, high = y.bounds["all"][figure]
                assert low <= y.figures["all"][figure] <= high, (y.year, figure)
            figures.update({f: y.figures["all"][f] for f in FIGURES_SEEN})
            figures["late_for_certain"] += y.bounds["all"]["notices_sent_late"][0]
        assert 0 < result.largest_history < 2000
    # The decade did happen: every kind of event, every check, every fault.
    days = sum(len(y.registered_by_day) for r in decade.results for y in r.years)
    assert counts["days_checked"] == days
    for what in ("screened", "negative", "removed", "submitted", "approved", "refused",
                 "appeals_portal", "appeals_email", "refusals_final", "bec_flagged",
                 "stopped", "revoked", "notices_checked", "agreement_checked",
                 "as_of_checked", "described", "smtp_outages", "worker_restarts", "deploys",
                 "figures_compared"):  # fmt: skip
        assert counts[what] > 0, what
    # The report counted what the simulation did: stops, revocations, notices held up by
    # an outage for more than an hour (some of them late whatever the mail server's pace).
    for what in (*FIGURES_SEEN, "late_for_certain"):
        assert figures[what] > 0, what
    index = decade.index
    assert index.exists() and (index.parent / f"year-{params.start_year + 9}.html").exists()
    table = index.read_text().split("## The department's figures")[1]
    assert all(f"| {params.start_year + i} |" in table for i in range(YEARS))
