"""The department's failed-or-stuck list from the registry: a live case an hour past the
moment its own timer should have moved it on. A refused case waits on purpose after its
window closed (an appeal e-mailed in time can still be registered): not stuck until that
wait is over too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from models.case import AppealSubject, CaseState, Deadline, DeadlineKind
from registry import case_rows, case_starts
from registry.worklists import page
from rules import case_view
from rules.guards import REFUSAL_FINAL_AFTER_DAYS
from starter import registry_reads
from tests.workflows.harness import application, seed_providers


async def _refused_with_window_closed(pool: asyncpg.Pool[Any], closed: datetime) -> str:
    now = datetime.now(UTC)
    app = application(now.date() + timedelta(days=120))
    async with pool.acquire() as conn:
        dossier, *_ = await registry_reads.allocate(conn, str(uuid.uuid4()), app, now)
        await case_starts.done(conn, dossier)  # its case runs (here: only its rows are written)
    status = case_view.initial_status(dossier, app, now)
    status.state = CaseState.REFUSED
    status.appeal_window_subject = AppealSubject.REFUSAL
    status.refusal_final_after_days = REFUSAL_FINAL_AFTER_DAYS
    status.appeal_window = Deadline(
        kind=DeadlineKind.APPEAL_WINDOW,
        starts_on=(closed - timedelta(days=30)).date(),
        last_day=closed.date(),
        due_at=closed,
        rule="test",
    )
    async with pool.acquire() as conn:
        await case_rows.write(conn, case_view.case_row(status, step="review", at=now))
    return dossier


async def _stuck(pool: asyncpg.Pool[Any]) -> set[str]:
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        found = await page(conn, "failed-or-stuck", (now - timedelta(hours=1),), None, 1000)
    return {r["dossier"] for r in found.rows}


async def test_a_refused_case_is_stuck_only_after_its_final_days(
    pg_pool: asyncpg.Pool[Any],
) -> None:
    await seed_providers(pg_pool)
    now = datetime.now(UTC)
    waiting = await _refused_with_window_closed(pg_pool, now - timedelta(days=2))
    stuck = await _refused_with_window_closed(
        pg_pool, now - timedelta(days=REFUSAL_FINAL_AFTER_DAYS, hours=2)
    )
    found = await _stuck(pg_pool)
    assert waiting not in found  # within the days an e-mailed appeal may still come in
    assert stuck in found
