"""A screening run end to end on the time-skipping server, with the real case workflow,
PostgreSQL and the SMTP sink: outcomes, e-mails, removal dates, appeals, repeats, crashes."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from models.case import AppealInput, BecDecisionInput, CaseState, HearingInput, HearingSide
from models.screening import Outcome, ScreeningProgress, ScreeningTrigger
from runtime.settings import Settings
from starter.cli import demo_data as demo
from starter.client import CaseService
from tests.screening.helpers import (
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
from tests.workflows.harness import BEC, PROVIDER, advance_to, at_brussels
from workflows.screening import ScreeningScheduleWorkflow, ScreeningWorkflow

pytestmark = pytest.mark.usefixtures("time_moves_only_when_told", "pg_clean")


async def test_outcomes_are_recorded_told_and_mailed(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
    smtp_sink: Any,
) -> None:
    settings = new_settings(test_settings)
    year = fresh_year()
    async with system_worker(ts_env.client, pg_pool, settings):
        day = await today(ts_env)
        good, bad, unknown = await registered_cases(ts_env.client, pg_pool, settings, 3, day)
        async with pg_pool.acquire() as conn:
            await demo.seed_reference(conn, year)
            await demo.set_activity(conn, good, year - 1, 6, 90, 80)
            await demo.set_activity(conn, bad, year - 1, 0, 0, 0)  # not organised: knockout
            # `unknown` sent no activity report: incomplete
            # a registered training whose case workflow is gone (e.g. migrated data)
            [orphan] = await demo.seed_registered(conn, 1, year=day.year)
        handle = await start_screening(ts_env.client, settings, year, day + timedelta(days=1))
        report = await handle.result()

        assert report.total == 4
        assert report.counts[Outcome.PASSED] == 1
        assert report.counts[Outcome.INCOMPLETE] == 2  # `unknown` and the orphan
        assert report.signalled == 3 and report.case_ended == [orphan]
        assert {n.dossier for n in report.negatives} == {bad, unknown, orphan}

        rows = {r["dossier"]: r for r in await screening_rows(pg_pool, year)}
        assert rows[good]["outcome"] == "passed" and rows[good]["score"] >= 60
        assert rows[good]["criteria"]["organised"]["points"] == 30
        assert rows[bad]["outcome"] == "failed"
        assert "effectief georganiseerd" in rows[bad]["remarks"]
        assert rows[unknown]["outcome"] == "incomplete" and rows[unknown]["score"] is None
        assert f"Onvolledige gegevens over {year - 1}" in rows[unknown]["remarks"]

        notice = rows[bad]["notified_on"]
        passed = await told(ts_env.client, good, year)
        assert passed.state == CaseState.REGISTERED
        assert [s.year for s in passed.screenings] == [year] and passed.screenings[0].passed
        for negative in (bad, unknown):
            status = await told(ts_env.client, negative, year)
            assert status.state == CaseState.REMOVAL_SCHEDULED
            assert status.removal is not None
            assert status.removal.last_day == date(notice.year + 1, 12, 31)
            [mail] = screening_mails(smtp_sink, negative)
            body = mail.get_content()
            assert f"31 december {notice.year + 1}" in body
            assert "beroep" in body
        [mail] = screening_mails(smtp_sink, good)
        assert "positief" in mail.get_content()

        # The report is kept in the registry too.
        stored = await pg_pool.fetchval("SELECT report FROM screening_runs WHERE year = $1", year)
        assert stored["counts"] == report.counts


async def test_a_second_trigger_for_the_same_year_does_nothing_new(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
    smtp_sink: Any,
) -> None:
    # A passing training continuing as new at once: no appeal window, removal or fresh-run
    # timer the test server could skip to between the two triggers (each reads its year
    # from the clock).
    settings = new_settings(test_settings)
    settings = settings.model_copy(
        update={
            "screening": settings.screening.model_copy(
                update={"continue_as_new_within_days": 0}
            )
        }
    )
    async with system_worker(ts_env.client, pg_pool, settings):
        day = await today(ts_env)
        [dossier] = await registered_cases(ts_env.client, pg_pool, settings, 1, day)
        year = (day + timedelta(days=1)).year
        # Registered long enough ago to be due this year (approved today, it would not be).
        await registered_since(pg_pool, dossier, date(year - 2, 3, 1))
        async with pg_pool.acquire() as conn:
            await demo.seed_reference(conn, year)
            await demo.set_activity(conn, dossier, year - 1, 6, 90, 80)
        await advance_to(ts_env, at_brussels(day + timedelta(days=1), 7))
        # Both triggers start at the same moment (each reads its year from the clock; the
        # test server could skip time between two awaited runs); one of them screens.
        handles = [
            await ts_env.client.start_workflow(
                ScreeningScheduleWorkflow.run,
                ScreeningTrigger(),
                id=f"trigger-{name}",
                task_queue=settings.temporal.task_queue,
            )
            for name in ("a", "b")
        ]
        results = [await handle.result() for handle in handles]
        # (Normally exactly one; the test server may let a finished child's id be reused.)
        first = next(r for r in results if r.started)
        assert first.report is not None and first.report.total == 1
        assert {r.workflow_id for r in results} == {first.workflow_id}
        # Whether the server refuses the id (dev server) or lets the run find its year done
        # (test server), nothing is scored, mailed or signalled twice.
        assert len(await screening_rows(pg_pool, first.year)) == 1
        assert len(screening_mails(smtp_sink, dossier)) == 1
        status = await told(ts_env.client, dossier, first.year)
        assert [s.year for s in status.screenings] == [first.year]


async def test_a_bad_rubric_is_refused_before_any_training_is_touched(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
    tmp_path: Path,
) -> None:
    settings = new_settings(test_settings)
    year = fresh_year()
    rubric = tmp_path / "bad.yaml"
    rubric.write_text(
        Path(settings.resolve(settings.screening.rubric)).read_text().replace(
            "weight: 10", "weight: 15"
        )
    )
    async with system_worker(ts_env.client, pg_pool, settings):
        day = await today(ts_env)
        await registered_cases(ts_env.client, pg_pool, settings, 1, day)
        handle = await start_screening(
            ts_env.client, settings, year, day + timedelta(days=1), rubric_path=str(rubric)
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    message = str(caught.value.cause)
    assert "weights add up to 105" in message and str(rubric) in message
    assert await screening_rows(pg_pool, year) == []
    assert await pg_pool.fetchval("SELECT count(*) FROM screening_runs WHERE year = $1", year) == 0


async def test_a_granted_appeal_against_a_negative_screening_cancels_the_removal(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
) -> None:
    settings = new_settings(test_settings)
    year = fresh_year()
    async with system_worker(ts_env.client, pg_pool, settings):
        day = await today(ts_env)
        [dossier] = await registered_cases(ts_env.client, pg_pool, settings, 1, day)
        async with pg_pool.acquire() as conn:
            await demo.set_activity(conn, dossier, year - 1, 0, 0, 0)
        handle = await start_screening(ts_env.client, settings, year, day + timedelta(days=1))
        report = await handle.result()
        assert report.negatives[0].dossier == dossier
        await told(ts_env.client, dossier, year)
        service = CaseService(settings, client=ts_env.client, pool=pg_pool)
        status = await service.update(
            dossier, AppealInput(actor=PROVIDER, motivation="Beroep tegen de screening.")
        )
        assert status.state == CaseState.REMOVAL_SCHEDULED and status.open_appeal is not None
        for side in HearingSide:
            await service.update(dossier, HearingInput(actor=BEC, side=side))
        status = await service.update(
            dossier, BecDecisionInput(actor=BEC, granted=True, reason="De opleiding liep wel.")
        )
        assert status.state == CaseState.REGISTERED and status.removal is None
        # No removal left in the registry either.
        removal_on = await pg_pool.fetchval(
            "SELECT removal_on FROM applications WHERE dossier = $1", dossier
        )
        assert removal_on is None


@pytest.mark.devserver
async def test_a_worker_killed_mid_run_resumes_without_duplicates(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
    smtp_sink: Any,
) -> None:
    """On the dev server: the test server never times out the killed worker's sticky
    queue, a real server does (after 5 s) and hands the run to the new worker."""
    settings = new_settings(test_settings)
    year = fresh_year()
    async with system_worker(dev_env.client, pg_pool, settings):
        day = await today(dev_env)
        dossiers = await registered_cases(dev_env.client, pg_pool, settings, 6, day)
    async with pg_pool.acquire() as conn:
        await demo.seed_reference(conn, year)
        for i, d in enumerate(dossiers):
            await demo.set_activity(conn, d, year - 1, i % 2 * 5, 60, 50)
    async with system_worker(dev_env.client, pg_pool, settings) as worker:
        handle = await start_screening(
            dev_env.client, settings, year, day + timedelta(days=1),
            page_size=2, parallel_pages=1, signal_concurrency=1,
        )
        for _ in range(400):
            p: ScreeningProgress | None = await handle.query(ScreeningWorkflow.progress)
            if p is not None and p.delivered >= 2:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the run made no progress")
        # Killed: no grace for running activities (graceful_shutdown_seconds = 0).
        await worker.shutdown()
    assert p.delivered < len(dossiers), "killed too late to test resuming"
    async with system_worker(dev_env.client, pg_pool, settings):
        report = await handle.result()
        assert report.total == 6 and report.signalled == 6
        assert len(await screening_rows(pg_pool, year)) == 6
        for d in dossiers:
            # At least once: a notice claimed by the killed worker is sent by the retried
            # page; a repeat (killed after SMTP took it) carries the same Message-ID.
            mails = screening_mails(smtp_sink, d)
            assert len(mails) >= 1, d
            assert len({m["Message-ID"].strip() for m in mails}) == 1, d
            status = await told(dev_env.client, d, year)
            assert [s.year for s in status.screenings] == [year]
