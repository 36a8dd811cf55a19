"""A refusal decided at 23:59:50 whose mail server answers after midnight: the e-mails the
provider gets quote the last day the case keeps (a correction follows the refusal at once),
and an appeal on that day is accepted; a refusal accepted before midnight sends no
correction. Time-skipping server, the real case worker and registry, the SMTP sink behind a
proxy that accepts late (tests/smtp_fakes.py). A module of its own: it skips a month, which
cases left on other modules' queues would stall."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.notifications import belgian_date
from devstack.smtp_sink import SmtpSink
from models.case import AppealInput, CaseState, CaseStatus, ReviewDecisionInput
from models.steps import NotificationKind, Recipient
from registry import notifications
from rules.deadlines import BRUSSELS, appeal_window, brussels_day, why_not_working_day
from rules.notices import message_id
from runtime.settings import Settings
from starter.client import CaseService
from tests.smtp_fakes import LateAcceptance
from tests.workflows.harness import (
    PROVIDER,
    VOC_REVIEWER,
    advance_to,
    at_brussels,
    keep_history,
    now,
    on_fresh_queue,
    seed_providers,
    until,
)
from tests.workflows.test_notices import REASON, acknowledged_case, case_worker, refusal_id

Hold = Callable[[bytes], Awaitable[None]]


def moving_day(after: date) -> date:
    """A day whose appeal deadline moves by one when the notice goes out a day later."""
    day = after
    while why_not_working_day(day + timedelta(days=30)) or why_not_working_day(
        day + timedelta(days=31)
    ):
        day += timedelta(days=1)
    return day


def midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=BRUSSELS)


async def attempt_started(client: Client, workflow_id: str, activity: str) -> datetime:
    """When the running attempt of the workflow's `activity` started on the server: the
    moment its clock counts from."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    for _ in range(100):
        # The raw description: the test server's search attributes do not all decode.
        described = await client.workflow_service.describe_workflow_execution(request)
        for pending in described.pending_activities:
            if pending.activity_type.name == activity and pending.HasField("last_started_time"):
                return pending.last_started_time.ToDatetime(tzinfo=UTC)
        await asyncio.sleep(0.05)  # polls the server's view, not a timer
    raise AssertionError(f"no running {activity} on {workflow_id}")


def accepts_after_midnight(
    client: Client, senders: dict[str, str], activity: str, midnight: datetime
) -> Hold:
    """A mail server that, for a message of `senders` (Message-ID: the workflow whose
    `activity` sends it), answers only once the sending attempt's clock (its start on the
    server plus the time it took) is a second past `midnight`: the same crossing every time,
    whatever the machine's load."""

    async def hold(sent: bytes) -> None:
        for mid, workflow_id in senders.items():
            if mid.encode() in sent:
                started = await attempt_started(client, workflow_id, activity)
                assert started < midnight - timedelta(seconds=0.5), (
                    f"the attempt started at {started}, too late to cross {midnight}: the "
                    "machine was too slow to set the crossing up"
                )
                # The server's slowness itself, in real time: the attempt's clock runs so.
                await asyncio.sleep((midnight - started).total_seconds() + 1)

    return hold


async def refuse(service: CaseService, dossier: str) -> None:
    status = await service.update(
        dossier, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
    )
    assert status.state == CaseState.REFUSED


def sent_to_provider(sink: SmtpSink, dossier: str) -> dict[str, Any]:
    return {
        kind: [m for m in sink.messages() if message_id(dossier, kind, "review", Recipient.PROVIDER)
               in (m["Message-ID"] or "")]
        for kind in (NotificationKind.REFUSAL, NotificationKind.NOTICE_CORRECTED)
    }  # fmt: skip


async def test_a_refusal_accepted_after_midnight_quotes_the_day_the_case_keeps(
    ts_env: WorkflowEnvironment,
    pg_pool: asyncpg.Pool[Any],
    test_settings: Settings,
    smtp_sink: SmtpSink,
) -> None:
    day = moving_day(brussels_day(await now(ts_env)) + timedelta(days=2))
    midnight = midnight_after(day)
    senders: dict[str, str] = {}
    hold = accepts_after_midnight(ts_env.client, senders, "notifications.send", midnight)
    async with LateAcceptance(smtp_sink.port, hold) as late:
        settings = on_fresh_queue(test_settings, "midnight")
        # The production SMTP timeout: the late answer is waited for.
        smtp = settings.smtp.model_copy(update={"port": late.port, "timeout_seconds": 30})
        settings = settings.model_copy(update={"smtp": smtp})
        await seed_providers(pg_pool)
        service = CaseService(settings, client=ts_env.client, pool=pg_pool)
        async with case_worker(ts_env, pg_pool, settings):
            handle = await acknowledged_case(ts_env, service, at_brussels(day, 23, 50))
            senders[refusal_id(handle.id)] = handle.id
            await advance_to(ts_env, midnight - timedelta(seconds=10))
            await refuse(service, handle.id)
            status = await until(handle, lambda s: s.appeal_window is not None, within=30)

            window = status.appeal_window
            assert window is not None
            assert window.starts_on == day + timedelta(days=1)  # the day SMTP accepted it
            assert window.last_day == appeal_window(day).last_day + timedelta(days=1)
            stored = await pg_pool.fetchval(
                "SELECT last_day FROM deadlines WHERE dossier = $1 AND kind = 'appeal_window'",
                handle.id,
            )
            assert stored == window.last_day

            # The refusal, dated before midnight, quotes a day too early; the correction that
            # follows it quotes the day the case keeps, and is on record like every e-mail.
            mails = sent_to_provider(smtp_sink, handle.id)
            [refusal] = mails[NotificationKind.REFUSAL]
            assert belgian_date(window.last_day - timedelta(days=1)) in refusal.get_content()
            [fix] = mails[NotificationKind.NOTICE_CORRECTED]
            assert f"uiterlijk op {belgian_date(window.last_day)}" in fix.get_content()
            fixed = message_id(
                handle.id, NotificationKind.NOTICE_CORRECTED, "review", Recipient.PROVIDER
            )
            record = await notifications.by_message_id(pg_pool, fixed)
            assert record is not None and record.status == "sent"
            assert record.sent_at is not None and brussels_day(record.sent_at) == window.starts_on
            assert not status.pending_notices

            # An appeal on that last day, late in the evening, is accepted.
            await advance_to(ts_env, at_brussels(window.last_day, 22))
            appealed = await service.update(
                handle.id, AppealInput(actor=PROVIDER, motivation=f"Beroep {handle.id}.")
            )
            assert appealed.state == CaseState.IN_APPEAL
            # Left with its appeal's notice delivered: an activity cut off by the end of the
            # test would hold the test server's clock for the next test.
            await until(handle, lambda s: not s.pending_notices, within=30)
            await keep_history(handle, "refusal_notice_corrected")
            await handle.terminate("test finished")


async def test_a_refusal_accepted_before_midnight_sends_no_correction(
    ts_env: WorkflowEnvironment,
    pg_pool: asyncpg.Pool[Any],
    test_settings: Settings,
    smtp_sink: SmtpSink,
) -> None:
    day = moving_day(brussels_day(await now(ts_env)) + timedelta(days=2))
    slow_for: set[str] = set()

    async def answers_in_two_seconds(sent: bytes) -> None:
        if any(mid.encode() in sent for mid in slow_for):
            await asyncio.sleep(2)  # a slow server, in real time

    async with LateAcceptance(smtp_sink.port, answers_in_two_seconds) as late:
        settings = on_fresh_queue(test_settings, "before-midnight")
        smtp = settings.smtp.model_copy(update={"port": late.port, "timeout_seconds": 30})
        settings = settings.model_copy(update={"smtp": smtp})
        await seed_providers(pg_pool)
        service = CaseService(settings, client=ts_env.client, pool=pg_pool)
        async with case_worker(ts_env, pg_pool, settings):
            handle: WorkflowHandle[Any, CaseStatus] = await acknowledged_case(
                ts_env, service, at_brussels(day, 23, 0)
            )
            slow_for.add(refusal_id(handle.id))
            await advance_to(ts_env, at_brussels(day, 23, 30))
            await refuse(service, handle.id)
            status = await until(handle, lambda s: s.appeal_window is not None, within=30)
            window = status.appeal_window
            assert window is not None and window.starts_on == day
            mails = sent_to_provider(smtp_sink, handle.id)
            [refusal] = mails[NotificationKind.REFUSAL]
            assert f"uiterlijk op {belgian_date(window.last_day)}" in refusal.get_content()
            assert mails[NotificationKind.NOTICE_CORRECTED] == []
            kinds = [n.kind for n in await notifications.for_dossier(pg_pool, handle.id)]
            assert NotificationKind.NOTICE_CORRECTED.value not in kinds
            await handle.terminate("test finished")
