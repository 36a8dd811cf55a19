"""A decision never waits for SMTP, no notice is lost, and a refusal's appeal window starts
on the day its e-mail really went out. Time-skipping server, the real registry, and the real
SMTP sink behind a gate the tests close, freeze and open (as an outage or a SIGSTOP would)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.archives import ArchiveActivities
from activities.notifications import NotificationActivities, belgian_date
from activities.registry import RegistryActivities
from devstack.smtp_sink import SmtpSink
from models.case import CaseState, CaseStatus, ReviewDecisionInput
from models.steps import NotificationKind, Recipient
from registry import notifications
from rules.deadlines import appeal_window, brussels_day, why_not_working_day
from rules.notices import message_id
from runtime.settings import Settings
from starter.client import CaseService
from tests.fixtures.api import run_starter
from tests.smtp_fakes import reject_recipient
from tests.workflows.harness import (
    VOC_REVIEWER,
    advance_to,
    application,
    at_brussels,
    keep_history,
    now,
    on_fresh_queue,
    seed_providers,
    until,
)
from workflows.application import ApplicationWorkflow

REASON = "De opleiding sluit onvoldoende aan bij de arbeidsmarkt."


class SmtpGate:
    """A TCP gate in front of the SMTP sink: open (forwards), frozen (accepts connections and
    never answers, like a SIGSTOPped server) or closed (refuses at once, like a server that
    is down)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.mode = "open"
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> SmtpGate:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()

    def release(self) -> None:
        for writer in self._held:
            writer.close()
        self._held.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "closed":
            writer.close()
            return
        if self.mode == "frozen":
            self._held.append(writer)
            return
        if self.mode == "rejecting":
            await reject_recipient(reader, writer)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest_asyncio.fixture(loop_scope="session")
async def gate(smtp_sink: SmtpSink) -> AsyncIterator[SmtpGate]:
    started = await SmtpGate(smtp_sink.port).start()
    try:
        yield started
    finally:
        await started.stop()


def gated(settings: Settings, gate: SmtpGate) -> Settings:
    smtp = settings.smtp.model_copy(update={"port": gate.port, "timeout_seconds": 2})
    return on_fresh_queue(settings, "notices").model_copy(update={"smtp": smtp})


def case_worker(env: WorkflowEnvironment, pool: asyncpg.Pool[Any], settings: Settings) -> Worker:
    return Worker(
        env.client,
        task_queue=settings.temporal.task_queue,
        workflows=[ApplicationWorkflow],
        activities=[
            RegistryActivities(pool, settings).record_step,
            NotificationActivities(pool, settings).send,
            ArchiveActivities(pool, settings).archive,
        ],
        graceful_shutdown_timeout=timedelta(seconds=0),
    )


def refusal_id(dossier: str) -> str:
    return message_id(dossier, NotificationKind.REFUSAL, "review", Recipient.PROVIDER)


async def refusal_mail(sink: SmtpSink, dossier: str) -> Any:
    [mail] = await sink.wait_for(lambda m: refusal_id(dossier) in (m["Message-ID"] or ""))
    return mail


async def acknowledged_case(
    env: WorkflowEnvironment, service: CaseService, when: datetime | None = None
) -> WorkflowHandle[Any, CaseStatus]:
    """A case submitted (at `when`, Brussels, if given) whose acknowledgment went out."""
    if when is not None:
        await advance_to(env, when)
    day = brussels_day(await now(env))
    submitted = await service.submit(application(day + timedelta(days=120)), str(uuid.uuid4()))
    handle: WorkflowHandle[Any, CaseStatus] = env.client.get_workflow_handle_for(
        ApplicationWorkflow.run, submitted.dossier
    )
    await until(handle, lambda s: bool(s.history) and not s.pending_notices)
    return handle


async def gated_service(
    env: WorkflowEnvironment, pool: asyncpg.Pool[Any], settings: Settings, gate: SmtpGate
) -> tuple[Settings, CaseService]:
    gated_settings = gated(settings, gate)
    await seed_providers(pool)
    return gated_settings, CaseService(gated_settings, client=env.client, pool=pool)


async def test_frozen_smtp_neither_delays_the_refusal_nor_loses_its_notice(
    ts_env: WorkflowEnvironment,
    pg_pool: asyncpg.Pool[Any],
    test_settings: Settings,
    smtp_sink: SmtpSink,
    gate: SmtpGate,
) -> None:
    settings, service = await gated_service(ts_env, pg_pool, test_settings, gate)
    async with case_worker(ts_env, pg_pool, settings):
        day = brussels_day(await now(ts_env)) + timedelta(days=1)
        handle = await acknowledged_case(ts_env, service, at_brussels(day))

        gate.mode = "frozen"
        started = time.monotonic()
        status = await service.update(
            handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
        )
        assert time.monotonic() - started < 5  # the API's normal time, not SMTP's
        assert status.state == CaseState.REFUSED
        assert status.appeal_window is None
        assert status.next_step.startswith("refusal decided, notice not yet sent")
        assert [n.kind for n in status.pending_notices] == ["refusal"]

        # The notice waits in the outbox while SMTP hangs; attempts are made and given up.
        record = None
        for _ in range(100):
            record = await notifications.by_message_id(pg_pool, refusal_id(handle.id))
            if record is not None and record.attempts >= 2:
                break
            await asyncio.sleep(0.1)  # polls the outbox, not a timer of the case
        assert record is not None and record.status in ("pending", "sending")
        assert record.attempts >= 2
        assert (await until(handle, lambda s: True)).appeal_window is None

        gate.mode = "open"
        gate.release()
        status = await until(handle, lambda s: s.appeal_window is not None, within=30)
        mail = await refusal_mail(smtp_sink, handle.id)
        window = status.appeal_window
        assert window is not None and window.starts_on == day
        assert belgian_date(window.last_day) in mail.get_content()
        assert not status.pending_notices
        await keep_history(handle, "refusal_notice_delayed")


async def test_an_outage_over_midnight_moves_the_last_day_by_one(
    ts_env: WorkflowEnvironment,
    pg_pool: asyncpg.Pool[Any],
    test_settings: Settings,
    smtp_sink: SmtpSink,
    gate: SmtpGate,
) -> None:
    settings, service = await gated_service(ts_env, pg_pool, test_settings, gate)
    day = brussels_day(await now(ts_env)) + timedelta(days=2)
    # A day whose 30th and 31st days after are both working days: one day later is one
    # day later, not a weekend's shift.
    while why_not_working_day(day + timedelta(days=30)) or why_not_working_day(
        day + timedelta(days=31)
    ):
        day += timedelta(days=1)
    async with case_worker(ts_env, pg_pool, settings):
        handle = await acknowledged_case(ts_env, service, at_brussels(day, 23, 40))

        gate.mode = "closed"  # SMTP down from 23:45 to past midnight
        await advance_to(ts_env, at_brussels(day, 23, 45))
        status = await service.update(
            handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
        )
        assert status.appeal_window is None
        await advance_to(ts_env, at_brussels(day + timedelta(days=1), 0, 20))
        gate.mode = "open"
        status = await until(handle, lambda s: s.appeal_window is not None, within=30)
        window = status.appeal_window
        assert window is not None
        assert window.starts_on == day + timedelta(days=1)
        assert window.last_day == appeal_window(day).last_day + timedelta(days=1)
        mail = await refusal_mail(smtp_sink, handle.id)
        assert belgian_date(window.last_day) in mail.get_content()
        sent = await notifications.by_message_id(pg_pool, refusal_id(handle.id))
        assert sent is not None and sent.sent_at is not None
        assert brussels_day(sent.sent_at) == day + timedelta(days=1)


async def _cli(env: WorkflowEnvironment, settings: Settings, *args: str) -> tuple[int, str]:
    """`python -m starter ...` as ops run it, against this test's servers."""
    code, out, err = await run_starter(
        {
            "DATABASE_URL": settings.postgres.url or "",
            "ODB_TEMPORAL__ADDRESS": env.client.service_client.config.target_host,
            "ODB_TEMPORAL__NAMESPACE": env.client.namespace,
            "SMTP_PORT": str(settings.smtp.port),
        },
        *args,
    )
    return code, out + err


async def test_a_refused_address_waits_for_ops_and_a_resend_starts_the_window(
    ts_env: WorkflowEnvironment,
    pg_pool: asyncpg.Pool[Any],
    test_settings: Settings,
    smtp_sink: SmtpSink,
    gate: SmtpGate,
) -> None:
    settings, service = await gated_service(ts_env, pg_pool, test_settings, gate)
    async with case_worker(ts_env, pg_pool, settings):
        day = brussels_day(await now(ts_env)) + timedelta(days=1)
        handle = await acknowledged_case(ts_env, service, at_brussels(day))

        gate.mode = "rejecting"
        await service.update(
            handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
        )
        status = await until(
            handle, lambda s: bool(s.pending_notices and s.pending_notices[0].rejected)
        )
        assert "550 5.1.1 mailbox unknown" in status.pending_notices[0].rejected
        assert status.appeal_window is None  # never received: no window runs
        code, listing = await _cli(ts_env, settings, "mail", "list")
        assert code == 1 and "failed" in listing and refusal_id(handle.id) in listing

        gate.mode = "open"  # the address was fixed; ops resend it
        code, said = await _cli(ts_env, settings, "mail", "resend", refusal_id(handle.id))
        assert code == 0, said
        status = await until(handle, lambda s: s.appeal_window is not None, within=30)
        assert not status.pending_notices
        await refusal_mail(smtp_sink, handle.id)
        await keep_history(handle, "refusal_notice_rejected_resent")


# On the dev server: a killed worker's sticky workflow task times out there as in production.
@pytest.mark.timeout(180)
async def test_a_worker_killed_between_claim_and_send_sends_the_notice_once(
    dev_env: WorkflowEnvironment,
    pg_pool: asyncpg.Pool[Any],
    test_settings: Settings,
    smtp_sink: SmtpSink,
    gate: SmtpGate,
) -> None:
    settings, service = await gated_service(dev_env, pg_pool, test_settings, gate)
    first = case_worker(dev_env, pg_pool, settings)
    first_run = asyncio.create_task(first.run())
    handle = await acknowledged_case(dev_env, service)

    gate.mode = "frozen"
    await service.update(
        handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
    )
    refusal = refusal_id(handle.id)
    for _ in range(100):  # the worker claimed the notice and hangs in the SMTP greeting
        record = await notifications.by_message_id(pg_pool, refusal)
        if record is not None and record.status == "sending":
            break
        await asyncio.sleep(0.05)  # polls the outbox, not a timer of the case
    assert record is not None and record.status == "sending"
    first_run.cancel()  # the worker dies holding the claim
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await first_run

    gate.mode = "open"
    gate.release()
    async with case_worker(dev_env, pg_pool, settings):
        # The delivery's retry (after the heartbeat timeout) takes its own claim back.
        status = await until(handle, lambda s: s.appeal_window is not None, within=90)
    assert status.state == CaseState.REFUSED
    mails = [m for m in smtp_sink.messages() if refusal in (m["Message-ID"] or "")]
    assert len(mails) == 1
    sent = await notifications.by_message_id(pg_pool, refusal)
    assert sent is not None and sent.status == "sent" and sent.attempts >= 2
