"""A training whose removal is already scheduled (a negative screening last year, removed at
the end of 31 December of this year) is not screened again: a second notice would tell its
provider a later removal date and a new appeal deadline (or, passed, an extension) that the
case does not keep. Found by the ten-year simulation (bench/decade). Real servers:
time-skipping Temporal, PostgreSQL, the SMTP sink."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from models.case import CaseState
from rules.deadlines import brussels_day
from runtime.settings import Settings
from starter.cli import demo_data as demo
from tests.screening.helpers import (
    case_status,
    fresh_years,
    new_settings,
    registered_cases,
    registered_since,
    screening_mails,
    screening_rows,
    start_screening,
    system_worker,
    told,
)

pytestmark = pytest.mark.usefixtures("time_moves_only_when_told", "pg_clean")


async def test_a_training_whose_removal_is_scheduled_is_not_screened_again(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
    smtp_sink: Any,
) -> None:
    settings = new_settings(test_settings)
    year, _ = fresh_years(2)
    async with system_worker(ts_env.client, pg_pool, settings):
        day = brussels_day(await ts_env.get_current_time())
        leaving, staying = await registered_cases(ts_env.client, pg_pool, settings, 2, day)
        async with pg_pool.acquire() as conn:
            for y in (year, year + 1):
                await demo.seed_reference(conn, y)
            for d in (leaving, staying):
                await registered_since(pg_pool, d, date(year - 3, 3, 1))
                # Next year's data would pass both.
                await demo.set_activity(conn, d, year, 6, 90, 80)
            await demo.set_activity(conn, leaving, year - 1, 0, 0, 0)  # not held: negative
            await demo.set_activity(conn, staying, year - 1, 6, 90, 80)
        first = await (
            await start_screening(ts_env.client, settings, year, date(year, 1, 15))
        ).result()
        assert first.total == 2
        scheduled = await told(ts_env.client, leaving, year)
        assert scheduled.state == CaseState.REMOVAL_SCHEDULED and scheduled.removal is not None
        removal_on = scheduled.removal.last_day
        await told(ts_env.client, staying, year)

        second = await (
            await start_screening(ts_env.client, settings, year + 1, date(year + 1, 1, 15))
        ).result()

        # Only the training that stays is screened; the leaving one gets no second notice
        # (no later removal date, no new appeal deadline) and keeps its removal date.
        assert second.total == 1
        assert [r["dossier"] for r in await screening_rows(pg_pool, year + 1)] == [staying]
        assert len(screening_mails(smtp_sink, leaving)) == 1
        after = await case_status(ts_env.client, leaving)
        assert after.state == CaseState.REMOVAL_SCHEDULED
        assert after.removal is not None and after.removal.last_day == removal_on
        assert [s.year for s in after.screenings] == [year]
