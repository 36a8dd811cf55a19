"""Screening activities: freeze the year's population, score pages in SQL, tell providers
and cases, write the report.

Every activity is idempotent on the registry's state, so a retry, a worker killed mid-page
or a resumed workflow repeats nothing:
- results are keyed by (dossier, 'screening-<year>') and written with ON CONFLICT DO NOTHING;
- each e-mail is one outbox row keyed by (dossier, step, kind, recipient) with a stable
  Message-ID, sent at most once by the registry's notification code;
- a case is marked told only after its signal was accepted; a signal repeated after a crash
  between signal and mark is dropped by the case (it dedupes per year).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities import notifications as mail
from activities.rubric_loader import load_rubric
from models.case import ScreeningOutcome
from models.rubric import RubricError
from models.screening import (
    DeliverPageInput,
    DeliverPageResult,
    PrepareInput,
    PrepareResult,
    ScorePageInput,
    ScorePageResult,
    ScreeningReport,
    screening_step,
)
from models.steps import NotificationKind, Recipient
from registry import notifications as outbox
from registry import screening as repo
from rules import deadlines
from runtime.settings import Settings

# The workflow result carries at most this many negatives; the registry keeps them all.
NEGATIVES_IN_RESULT = 1000


class ScreeningActivities:
    def __init__(
        self, pool: asyncpg.Pool[Any], settings: Settings, client: Client | None = None
    ) -> None:
        self._pool = pool
        self._settings = settings
        # None: the client of the worker running the activity.
        self._client = client

    @activity.defn(name="screening.prepare")
    async def prepare(self, inp: PrepareInput) -> PrepareResult:
        """Validates the rubric and freezes who is screened. A bad rubric stops the run here,
        before any training is touched (non-retryable: retrying cannot fix the file)."""
        path = self._settings.resolve(
            Path(inp.rubric_path) if inp.rubric_path else self._settings.screening.rubric
        )
        try:
            rubric = load_rubric(path)
        except RubricError as exc:
            raise ApplicationError(str(exc), type="InvalidRubric", non_retryable=True) from exc
        async with self._pool.acquire() as conn:
            run = await repo.start_run(
                conn,
                year=inp.year,
                screening_date=inp.screening_date,
                rubric=rubric,
                workflow_id=inp.workflow_id,
            )
        if run.resumed and run.rubric.version != rubric.version:
            activity.logger.warning(
                "screening.rubric.kept",
                extra={"year": inp.year, "frozen": run.rubric.version, "file": rubric.version},
            )
        return PrepareResult(
            year=run.year,
            screening_date=run.screening_date,
            activity_year=run.activity_year,
            rubric_version=run.rubric.version,
            total=run.total,
            resumed=run.resumed,
        )

    @activity.defn(name="screening.score_page")
    async def score_page(self, inp: ScorePageInput) -> ScorePageResult:
        count, last, written = await repo.score_page(self._pool, inp.year, inp.after, inp.limit)
        activity.logger.info(
            "screening.page.scored",
            extra={"year": inp.year, "after": inp.after, "count": count, "written": written},
        )
        return ScorePageResult(count=count, last=last)

    @activity.defn(name="screening.deliver_page")
    async def deliver_page(self, inp: DeliverPageInput) -> DeliverPageResult:
        """E-mails the providers of one page (bulk into the outbox, then sent once each),
        then signals their cases with bounded concurrency."""
        rows = await repo.pending_deliveries(self._pool, inp.year, inp.after, inp.upto)
        if not rows:
            return DeliverPageResult()
        # A case that ended after it was scored is reported, not e-mailed or signalled.
        ended = [r.dossier for r in rows if r.case_state == "ended"]
        live = [r for r in rows if r.case_state != "ended"]
        if ended:
            await repo.mark_delivered(self._pool, inp.year, ended, "case_ended")
        notified = await self._enqueue_emails(inp.year, live)
        sent = await self._send_emails(live, inp.signal_concurrency)
        signalled, gone = await self._signal_cases(inp, live, notified)
        if gone:
            await repo.mark_delivered(self._pool, inp.year, gone, "case_ended")
        return DeliverPageResult(
            signalled=signalled,
            case_ended=len(ended) + len(gone),
            emails_sent=sent,
        )

    async def _enqueue_emails(self, year: int, rows: list[repo.Delivery]) -> dict[str, Any]:
        """One transaction for the page: the notice day and every rendered e-mail. A retry
        finds the rows and keeps the first attempt's day (and so its dates in the mail)."""
        step = screening_step(year)
        # The server's clock, as the case workflows see it (and the test server skips it).
        today = deadlines.brussels_day(activity.info().current_attempt_scheduled_time)
        n = self._settings.notifications
        async with self._pool.acquire() as conn, conn.transaction():
            await repo.set_notified_on(conn, year, [r.dossier for r in rows], today)
            days = await repo.notified_on(conn, year, [r.dossier for r in rows])
            for r in rows:
                day = days[r.dossier]
                context: dict[str, Any] = {
                    "dossier": r.dossier,
                    "title": r.title,
                    "provider_name": r.provider_name,
                    "contact_address": n.contact_address,
                    "bec_address": n.bec_address,
                    "department_address": n.department_address,
                    "year": year,
                    "passed": r.passed,
                    "remarks": r.remarks,
                }
                if not r.passed:
                    context["removal_on"] = deadlines.removal_after_negative_screening(
                        day
                    ).last_day.isoformat()
                    context["appeal_deadline"] = deadlines.appeal_window(day).last_day.isoformat()
                subject, body = mail.render(NotificationKind.SCREENING_RESULT, context)
                await outbox.add(
                    cast("asyncpg.Connection[Any]", conn),
                    dossier=r.dossier,
                    step=step,
                    kind=NotificationKind.SCREENING_RESULT.value,
                    recipient=Recipient.PROVIDER.value,
                    to_address=r.contact_email,
                    subject=subject,
                    body=body,
                    message_id=mail.message_id(
                        r.dossier, NotificationKind.SCREENING_RESULT, step, Recipient.PROVIDER
                    ),
                )
        return dict(days)

    async def _send_emails(self, rows: list[repo.Delivery], concurrency: int) -> int:
        deferred: list[str] = []
        sent = 0
        todo = iter(rows)  # shared by the lanes: each takes the next dossier

        async def lane() -> None:
            # One SMTP connection per lane, reused for every message it sends.
            nonlocal sent
            session = mail.SmtpSession(self._settings.smtp)
            try:
                for r in todo:
                    delivery = await mail.deliver(self._pool, self._settings, r.dossier, session)
                    activity.heartbeat()
                    sent += len(delivery.sent)
                    deferred.extend(delivery.retry)
            finally:
                await asyncio.to_thread(session.close)

        await asyncio.gather(*(lane() for _ in range(max(1, min(concurrency, 8)))))
        activity.heartbeat("emails sent")
        if deferred:
            # The cases are told only once their provider could be: SMTP down -> retry later.
            mail.raise_if_deferred(mail.Delivery(retry=deferred))
        return sent

    async def _signal_cases(
        self, inp: DeliverPageInput, rows: list[repo.Delivery], notified: dict[str, Any]
    ) -> tuple[int, list[str]]:
        client = self._client or activity.client()
        gate = asyncio.Semaphore(inp.signal_concurrency)
        told: list[str] = []
        gone: list[str] = []

        async def one(r: repo.Delivery) -> None:
            outcome = ScreeningOutcome(
                year=inp.year,
                passed=r.passed,
                score=r.score,
                rubric_version=r.rubric_version,
                remarks=r.remarks,
                notified_on=notified[r.dossier],
                continue_as_new_within_days=self._settings.screening.continue_as_new_within_days,
                result_id=str(r.result_id),
            )
            async with gate:
                try:
                    await client.get_workflow_handle(r.dossier).signal(
                        "screening_outcome", outcome
                    )
                except RPCError as exc:
                    # Closed or unknown workflow: the case ended after it was scored.
                    if exc.status == RPCStatusCode.NOT_FOUND:
                        gone.append(r.dossier)
                        return
                    raise
            activity.heartbeat()
            told.append(r.dossier)

        results = await asyncio.gather(*(one(r) for r in rows), return_exceptions=True)
        # Record what succeeded even when some failed, so the retry only repeats the rest.
        if told:
            await repo.mark_delivered(self._pool, inp.year, told, "signalled")
        errors = [e for e in results if isinstance(e, BaseException)]
        if errors:
            raise errors[0]
        activity.heartbeat("cases signalled")
        return len(told), gone

    @activity.defn(name="screening.report")
    async def report(self, year: int) -> ScreeningReport:
        """Computes the run report from the registry, stores it, returns it."""
        facts = await repo.report_facts(self._pool, year)
        full = ScreeningReport(
            year=facts.year,
            screening_date=facts.screening_date,
            rubric_version=facts.rubric_version,
            total=facts.total,
            counts=facts.counts,
            distribution=facts.distribution,
            signalled=facts.delivery.get("signalled", 0),
            case_ended=facts.case_ended,
            negatives=facts.negatives,
            emails_sent=facts.emails_sent,
        )
        await repo.store_report(self._pool, year, full.model_dump(mode="json"))
        if len(full.negatives) > NEGATIVES_IN_RESULT:
            return full.model_copy(
                update={
                    "negatives": full.negatives[:NEGATIVES_IN_RESULT],
                    "negatives_truncated": True,
                }
            )
        return full
