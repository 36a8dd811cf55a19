"""The yearly screening screens only trainings that had a data year, keeps one complete
result row per training and year whoever writes it first, and fails loudly (at once, the
dossier named) on a row no retry can fix; resumed after the repair, it tells nobody twice.
Real servers: time-skipping Temporal, PostgreSQL, the SMTP sink."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from models.case import CaseState, ScreeningOutcome
from models.screening import Outcome, ScreeningInput, screening_workflow_id
from runtime.settings import Settings
from starter.cli import demo_data as demo
from tests.screening.helpers import (
    case_status,
    fresh_year,
    new_settings,
    registered_cases,
    registered_since,
    screening_mails,
    screening_rows,
    start_screening,
    system_worker,
    today,
    told,
)
from workflows.application import ApplicationWorkflow
from workflows.screening import ScreeningWorkflow

pytestmark = pytest.mark.usefixtures("time_moves_only_when_told", "pg_clean")


async def test_only_trainings_with_a_data_year_are_screened(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
    smtp_sink: Any,
) -> None:
    settings = new_settings(test_settings)
    year = fresh_year()
    screening_date = date(year, 1, 15)
    async with system_worker(ts_env.client, pg_pool, settings):
        day = await today(ts_env)
        fresh, new_year, late = await registered_cases(ts_env.client, pg_pool, settings, 3, day)
        await registered_since(pg_pool, fresh, screening_date)  # registered that very day
        await registered_since(pg_pool, new_year, date(year - 1, 1, 1))  # all of year - 1
        await registered_since(pg_pool, late, date(year - 1, 1, 2))  # missed one day of it
        async with pg_pool.acquire() as conn:
            await demo.seed_reference(conn, year)
            for d in (fresh, new_year, late):
                await demo.set_activity(conn, d, year - 1, 6, 90, 80)
        handle = await start_screening(ts_env.client, settings, year, screening_date)
        report = await handle.result()

        assert report.total == 1 and report.counts[Outcome.PASSED] == 1
        assert report.not_yet_due == 2
        # late: due next year; fresh (registered in Y itself): the year after.
        assert report.not_yet_due_by_first_year == {str(year + 1): 1, str(year + 2): 1}
        assert len(screening_mails(smtp_sink, new_year)) == 1
        assert (await told(ts_env.client, new_year, year)).state == CaseState.REGISTERED
        for d in (fresh, late):
            assert screening_mails(smtp_sink, d) == []
            assert (await case_status(ts_env.client, d)).screenings == []
        assert [r["dossier"] for r in await screening_rows(pg_pool, year)] == [new_year]


async def test_a_successor_of_a_registered_training_continues_its_history(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
) -> None:
    settings = new_settings(test_settings)
    year = fresh_year()
    async with system_worker(ts_env.client, pg_pool, settings):
        day = await today(ts_env)
        old, new = await registered_cases(ts_env.client, pg_pool, settings, 2, day)
        await registered_since(pg_pool, old, date(year - 4, 3, 1))
        await registered_since(pg_pool, new, date(year, 1, 10))
        await pg_pool.execute(
            """UPDATE registration_periods SET ends_on = $2, end_reason = 'replaced',
                   closed_step = 'replaced' WHERE dossier = $1""",
            old,
            date(year, 1, 9),
        )
        await pg_pool.execute(
            "UPDATE applications SET predecessor_dossier = $2 WHERE dossier = $1", new, old
        )
        report = await (
            await start_screening(ts_env.client, settings, year, date(year, 1, 15))
        ).result()
        assert report.total == 1 and report.not_yet_due == 0
        assert [r["dossier"] for r in await screening_rows(pg_pool, year)] == [new]


async def test_case_recorded_and_run_recorded_outcomes_make_one_complete_row(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
    smtp_sink: Any,
) -> None:
    settings = new_settings(test_settings)
    year = fresh_year()
    async with system_worker(ts_env.client, pg_pool, settings):
        day = await today(ts_env)
        by_hand, legacy = await registered_cases(ts_env.client, pg_pool, settings, 2, day)
        async with pg_pool.acquire() as conn:
            await demo.seed_reference(conn, year)
            await demo.set_activity(conn, by_hand, year - 1, 6, 90, 80)  # the run would pass it
        # The case records first: an outcome signalled to it directly (as the demo does),
        # and one as signals were sent before they carried an outcome.
        for dossier, outcome, score in ((by_hand, "failed", 41.0), (legacy, None, None)):
            await ts_env.client.get_workflow_handle(dossier).signal(
                ApplicationWorkflow.screening_outcome,
                ScreeningOutcome(
                    year=year, passed=False, outcome=outcome, score=score,
                    rubric_version="2027.1", remarks="Niet georganiseerd.", notified_on=day,
                ),
            )
            # Handled means recorded: the case's record activity ran before it shows the year.
            await told(ts_env.client, dossier, year)
        assert len(await screening_rows(pg_pool, year)) == 2
        report = await (
            await start_screening(ts_env.client, settings, year, day + timedelta(days=1))
        ).result()

        rows = {r["dossier"]: r for r in await screening_rows(pg_pool, year)}
        assert set(rows) == {by_hand, legacy}
        hand = rows[by_hand]
        # What the case was told stays; the run added only what the case could not know.
        assert (hand["outcome"], hand["passed"], hand["score"]) == ("failed", False, 41.0)
        assert hand["remarks"] == "Niet georganiseerd." and hand["rubric_version"] == "2027.1"
        assert hand["criteria"]["organised"]["points"] == 30
        assert hand["notified_on"] == day
        assert rows[legacy]["outcome"] == "incomplete"  # derived: negative without a score
        assert report.counts == {"passed": 0, "failed": 1, "incomplete": 1}
        assert {n.dossier for n in report.negatives} == {by_hand, legacy}
        # Each provider got one notice (from the run: the case records, it does not mail).
        assert len(screening_mails(smtp_sink, by_hand)) == 1


async def test_a_corrupt_row_fails_the_run_at_once_and_a_resume_tells_nobody_twice(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
    smtp_sink: Any,
) -> None:
    settings = new_settings(test_settings)
    year = fresh_year()
    async with system_worker(ts_env.client, pg_pool, settings):
        day = await today(ts_env)
        dossiers = sorted(await registered_cases(ts_env.client, pg_pool, settings, 3, day))
        bad = dossiers[-1]
        async with pg_pool.acquire() as conn:
            await demo.seed_reference(conn, year)
            for d in dossiers:
                await demo.set_activity(conn, d, year - 1, 6, 90, 80)
        # A result row written beforehand with a score no rubric can give.
        await pg_pool.execute(
            """INSERT INTO screening_results (dossier, step, year, passed, score,
                   rubric_version, remarks, outcome)
               VALUES ($1, $2, $3, false, 250, '2027.1', 'Score 250/100.', 'failed')""",
            bad,
            f"screening-{year}",
            year,
        )
        started = time.monotonic()
        handle = await start_screening(
            ts_env.client, settings, year, day + timedelta(days=1),
            page_size=1, parallel_pages=1,
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        assert time.monotonic() - started < 20, "retried instead of failing at once"
        reason = str(caught.value.cause)
        assert bad in reason and "score" in reason and "250" in reason, reason
        for d in dossiers[:-1]:
            assert len(screening_mails(smtp_sink, d)) == 1
        assert screening_mails(smtp_sink, bad) == []
        # Nothing stays listed as stuck: the failure was final, not a retry.
        assert not await pg_pool.fetchval(
            "SELECT count(*) FROM stuck_activities WHERE workflow_id = $1",
            screening_workflow_id(year),
        )

        await pg_pool.execute(
            "UPDATE screening_results SET score = 35, remarks = 'Score 35/100.' "
            "WHERE dossier = $1 AND step = $2",
            bad,
            f"screening-{year}",
        )
        # Resumed as the trigger does: the failed run's id may be used again.
        resumed = await ts_env.client.start_workflow(
            ScreeningWorkflow.run,
            ScreeningInput(year=year, screening_date=day + timedelta(days=1), page_size=1),
            id=screening_workflow_id(year),
            task_queue=settings.temporal.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
        report = await resumed.result()
        assert report.total == 3 and report.signalled == 3
        assert report.counts == {"passed": 2, "failed": 1, "incomplete": 0}
        for d in dossiers:
            assert len(screening_mails(smtp_sink, d)) == 1, d
            assert [s.year for s in (await told(ts_env.client, d, year)).screenings] == [year]
