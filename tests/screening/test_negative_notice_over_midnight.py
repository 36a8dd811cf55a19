"""A negative screening notice sent at 23:59:5x on New Year's Eve that the mail server
accepts after midnight: the provider received it in the new year, so the case keeps the
appeal deadline and the removal date of that day (a year later), and the e-mails the provider
got quote exactly those (the notice, then a correction); an appeal on the last day is
accepted. Time-skipping server, the system's worker, PostgreSQL, the SMTP sink behind a
proxy that accepts late."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.notifications import belgian_date
from models.case import AppealInput, CaseState, CaseStatus
from models.screening import screening_workflow_id
from models.steps import NotificationKind, Recipient
from rules.deadlines import BRUSSELS, brussels_day
from rules.notices import message_id
from runtime.settings import Settings
from starter.cli import demo_data as demo
from starter.client import CaseService
from tests.screening.helpers import (
    case_status,
    fresh_year,
    new_settings,
    registered_cases,
    start_screening,
    system_worker,
    told,
)
from tests.smtp_fakes import LateAcceptance
from tests.workflows.harness import PROVIDER, advance_to, at_brussels, until
from tests.workflows.test_notice_over_midnight import accepts_after_midnight

pytestmark = pytest.mark.usefixtures("time_moves_only_when_told", "pg_clean")

APPEAL_UNTIL = re.compile(r"uiterlijk op (\d{1,2} \w+ \d{4})")
REGISTERED_UNTIL = re.compile(r"geregistreerd tot en met (\d{1,2} \w+ \d{4})")


def last_said(pattern: re.Pattern[str], texts: list[str]) -> str | None:
    """The date the provider read last for `pattern` (a correction says it after the notice)."""
    said = [m.group(1) for t in texts for m in pattern.finditer(" ".join(t.split()))]
    return said[-1] if said else None


async def test_a_negative_notice_accepted_after_new_years_midnight_quotes_what_the_case_keeps(
    ts_env: WorkflowEnvironment,
    pg_pool: asyncpg.Pool[Any],
    test_settings: Settings,
    smtp_sink: Any,
) -> None:
    year = fresh_year()
    today = brussels_day(await ts_env.get_current_time())
    eve = date(today.year, 12, 31)
    if datetime.combine(eve, time(23, 55), tzinfo=BRUSSELS) <= await ts_env.get_current_time():
        eve = date(today.year + 1, 12, 31)
    midnight = datetime.combine(eve + timedelta(days=1), time(0), tzinfo=BRUSSELS)
    senders: dict[str, str] = {}
    hold = accepts_after_midnight(ts_env.client, senders, "screening.deliver_page", midnight)
    async with LateAcceptance(smtp_sink.port, hold) as late:
        settings = new_settings(test_settings)
        smtp = settings.smtp.model_copy(update={"port": late.port, "timeout_seconds": 30})
        settings = settings.model_copy(update={"smtp": smtp})
        async with system_worker(ts_env.client, pg_pool, settings):
            await advance_to(ts_env, at_brussels(eve, 23, 50))
            [dossier] = await registered_cases(ts_env.client, pg_pool, settings, 1, eve)
            async with pg_pool.acquire() as conn:
                await demo.seed_reference(conn, year)
                await demo.set_activity(conn, dossier, year - 1, 0, 0, 0)  # not held: negative
            notice_id = message_id(
                dossier,
                NotificationKind.SCREENING_RESULT,
                f"screening-{year}",
                Recipient.PROVIDER,
            )
            senders[notice_id] = screening_workflow_id(year)
            await advance_to(ts_env, midnight - timedelta(seconds=10))
            report = await (await start_screening(ts_env.client, settings, year, eve)).result()
            assert [n.dossier for n in report.negatives] == [dossier]

            status = await told(ts_env.client, dossier, year)
            assert status.state == CaseState.REMOVAL_SCHEDULED
            window, removal = status.appeal_window, status.removal
            assert window is not None and removal is not None
            # Received on New Year's Day: removed at the end of the year after that one.
            assert window.starts_on == eve + timedelta(days=1)
            assert removal.last_day == date(eve.year + 2, 12, 31)
            row = await pg_pool.fetchrow(
                "SELECT notified_on FROM screening_results WHERE dossier = $1", dossier
            )
            assert row is not None and row["notified_on"] == window.starts_on

            # What the provider got: the notice, dated before midnight, and its correction.
            got = [
                m
                for m in smtp_sink.messages()
                if f"{dossier}.screening_result." in (m["Message-ID"] or "")
                or f"{dossier}.notice_corrected." in (m["Message-ID"] or "")
            ]
            assert len(got) == 2
            texts = [m.get_content() for m in got]
            assert f"tot en met {belgian_date(date(eve.year + 1, 12, 31))}" in texts[0]
            assert "Correctie" in str(got[1]["Subject"])
            assert last_said(APPEAL_UNTIL, texts) == belgian_date(window.last_day)
            assert last_said(REGISTERED_UNTIL, texts) == belgian_date(removal.last_day)

            # An appeal on that last day, late in the evening, is accepted.
            await advance_to(ts_env, at_brussels(window.last_day, 22))
            service = CaseService(settings, client=ts_env.client, pool=pg_pool)
            appealed = await service.update(
                dossier, AppealInput(actor=PROVIDER, motivation="Beroep tegen de screening.")
            )
            assert appealed.state == CaseState.REMOVAL_SCHEDULED
            assert appealed.open_appeal is not None
            handle = ts_env.client.get_workflow_handle(dossier, result_type=CaseStatus)
            # Left with its appeal's notice delivered (an activity cut off by the end of the
            # test would hold the test server's clock).
            await until(handle, lambda s: not s.pending_notices, within=30)
            assert (await case_status(ts_env.client, dossier)).open_appeal is not None
