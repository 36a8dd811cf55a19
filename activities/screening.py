"""Screening activities: freeze the year's population, score pages in SQL, tell providers
and cases, write the report.

Every activity is idempotent on the registry's state, so a retry, a worker killed mid-page
or a resumed workflow repeats nothing:
- results are keyed by (dossier, 'screening-<year>') and written with ON CONFLICT DO NOTHING;
- each e-mail is one outbox row keyed by (dossier, step, kind, recipient) with a stable
  Message-ID, sent at most once by the registry's notification code;
- a case is marked told only after its signal was accepted; a signal repeated after a crash
  between signal and mark is dropped by the case (it dedupes per year).

An error no retry can cure (our own data failing validation, a programming error) is raised
non-retryable with the reason and what it concerns, so the run fails at once and says why
instead of retrying forever; after the repair the year's run is started again and resumes
(`screen now` / `screen backfill`): nothing told is told again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import asyncpg
import pydantic
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
    InvalidResultRow,
    PrepareInput,
    PrepareResult,
    ResultRow,
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

# Errors a retry cannot cure: the same data and code give the same error. (A lost
# connection, a timeout, SMTP or Temporal away are not among them: those are retried.)
_INCURABLE: tuple[type[BaseException], ...] = (
    pydantic.ValidationError,
    TypeError,
    KeyError,
    AttributeError,
    AssertionError,
    asyncpg.DataError,  # SQL class 22: a value our data holds that the statement rejects
    asyncpg.IntegrityConstraintViolationError,  # class 23
    asyncpg.exceptions.SyntaxOrAccessError,  # class 42: the statement itself is wrong
)


@contextmanager
def fails_loudly(year: int, what: str) -> Iterator[None]:
    """Turns an incurable error into a non-retryable one that names what it concerns."""
    try:
        yield
    except InvalidResultRow as exc:
        raise ApplicationError(
            f"screening {year}: {exc}", exc.dossier, type="InvalidResultRow", non_retryable=True
        ) from exc
    except _INCURABLE as exc:
        raise ApplicationError(
            f"screening {year}, {what}: {type(exc).__name__}: {exc}. This is an error in our "
            f"data or code, not a passing outage: fix it, then resume the run (python -m "
            f"starter screen now, or screen backfill --year {year}).",
            type="ScreeningDefect",
            non_retryable=True,
        ) from exc


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
        with fails_loudly(inp.year, "freezing the population"):
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
            delivered=run.delivered,
            not_yet_due=run.not_yet_due,
        )

    @activity.defn(name="screening.score_page")
    async def score_page(self, inp: ScorePageInput) -> ScorePageResult:
        with fails_loudly(inp.year, f"scoring the page after {inp.after or 'the start'}"):
            count, last, written = await repo.score_page(
                self._pool, inp.year, inp.after, inp.limit
            )
        activity.logger.info(
            "screening.page.scored",
            extra={"year": inp.year, "after": inp.after, "count": count, "written": written},
        )
        return ScorePageResult(count=count, last=last)

    @activity.defn(name="screening.deliver_page")
    async def deliver_page(self, inp: DeliverPageInput) -> DeliverPageResult:
        """E-mails the providers of one page (bulk into the outbox, then sent once each),
        then signals their cases with bounded concurrency. Every row is checked before
        anyone of the page is told: a bad row fails the run naming its dossier."""
        with fails_loudly(inp.year, f"telling the page ({inp.after or 'start'}, {inp.upto}]"):
            return await self._deliver_page(inp)

    async def _deliver_page(self, inp: DeliverPageInput) -> DeliverPageResult:
        # When each notice is accepted, on the server's clock: made once, at the start, so a
        # notice accepted minutes into the page is dated by that moment (its provider's
        # receipt, from which the case counts), not by the page's start.
        clock = mail.Clock()
        step = screening_step(inp.year)
        rows = await repo.pending_deliveries(self._pool, inp.year, inp.after, inp.upto)
        checked = {
            r.dossier: ResultRow.check(
                step,
                dossier=r.dossier,
                outcome=r.outcome,
                passed=r.passed,
                score=r.score,
                rubric_version=r.rubric_version,
                remarks=r.remarks,
            )
            for r in rows
        }
        if not rows:
            return DeliverPageResult()
        # A case that ended after it was scored is reported, not e-mailed or signalled.
        ended = [r.dossier for r in rows if r.case_state == "ended"]
        live = [r for r in rows if r.case_state != "ended"]
        if ended:
            await repo.mark_delivered(self._pool, inp.year, ended, "case_ended")
        await self._enqueue_emails(inp.year, live)
        sent = await self._send_emails(live, inp.signal_concurrency, clock)
        # Told with the day each notice went out: the provider received it that day.
        dossiers = [r.dossier for r in live]
        await repo.set_notified_on_from_sending(self._pool, inp.year, dossiers)
        notified = await repo.notified_on(self._pool, inp.year, dossiers)
        signalled, gone = await self._signal_cases(inp, live, notified, checked)
        if gone:
            await repo.mark_delivered(self._pool, inp.year, gone, "case_ended")
        return DeliverPageResult(
            signalled=signalled,
            case_ended=len(ended) + len(gone),
            emails_sent=sent,
        )

    async def _enqueue_emails(self, year: int, rows: list[repo.Delivery]) -> None:
        """One transaction for the page: every e-mail into the outbox. Its dates (appeal
        deadline, removal) are set when it is sent, from the day it goes out; a retry finds
        the rows and adds nothing."""
        step = screening_step(year)
        # The server's clock, as the case workflows see it (and the test server skips it).
        today = deadlines.brussels_day(activity.info().current_attempt_scheduled_time)
        n = self._settings.notifications
        async with self._pool.acquire() as conn, conn.transaction():
            for r in rows:
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
                subject, body = mail.render_sent_on(
                    NotificationKind.SCREENING_RESULT, context, today
                )
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
                    context=context,
                )

    async def _send_emails(
        self, rows: list[repo.Delivery], concurrency: int, clock: mail.Clock
    ) -> int:
        deferred: list[str] = []
        sent = 0
        todo = iter(rows)  # shared by the lanes: each takes the next dossier

        async def lane() -> None:
            # One SMTP connection per lane, reused for every message it sends.
            nonlocal sent
            session = mail.SmtpSession(self._settings.smtp)
            try:
                for r in todo:
                    delivery = await mail.deliver(
                        self._pool, self._settings, r.dossier, session, clock
                    )
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
        self,
        inp: DeliverPageInput,
        rows: list[repo.Delivery],
        notified: dict[str, Any],
        checked: dict[str, ResultRow],
    ) -> tuple[int, list[str]]:
        client = self._client or activity.client()
        gate = asyncio.Semaphore(inp.signal_concurrency)
        told: list[str] = []
        gone: list[str] = []

        async def one(r: repo.Delivery) -> None:
            outcome = ScreeningOutcome(
                year=inp.year,
                passed=r.passed,
                outcome=checked[r.dossier].outcome.value,
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
        with fails_loudly(year, "writing the report"):
            return await self._report(year)

    async def _report(self, year: int) -> ScreeningReport:
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
            not_yet_due=sum(facts.not_yet_due.values()),
            not_yet_due_by_first_year={str(y): n for y, n in facts.not_yet_due.items()},
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
