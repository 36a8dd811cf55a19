"""The yearly screening: one workflow per year (id `screening-<year>`), started by the
Temporal Schedule through a small trigger workflow that turns the scheduled time into the
year.

The run freezes who is screened, scores them in pages (one SQL statement each), then tells
providers (e-mail) and cases (signal) page by page, a few pages at a time, and writes a
report. Its history stays small whatever the number of trainings: a page is one activity,
and the run continues as new when the server suggests it, carrying its progress.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from models.screening import (
        DeliverPageInput,
        DeliverPageResult,
        Phase,
        PrepareInput,
        PrepareResult,
        ScorePageInput,
        ScorePageResult,
        ScreeningInput,
        ScreeningProgress,
        ScreeningReport,
        ScreeningTrigger,
        TriggerResult,
        screening_workflow_id,
    )
    from rules.deadlines import BRUSSELS

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# A database or Temporal outage is waited out; a bad rubric is not retried (non-retryable).
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["InvalidRubric"],
)
# Pages after which the run continues as new even if the server has not suggested it yet.
PAGES_PER_RUN = 400


@workflow.defn(name="ScreeningWorkflow")
class ScreeningWorkflow:
    def __init__(self) -> None:
        self._p: ScreeningProgress | None = None

    @workflow.run
    async def run(self, inp: ScreeningInput) -> ScreeningReport:
        try:
            return await self._run(inp)
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                # An error no retry can cure fails the run at once, with the activity's
                # reason as the run's own (the UI, `screen follow`); the run can be started
                # again for the same year once the cause is repaired.
                raise ApplicationError(
                    cause.message, *cause.details, type=cause.type, non_retryable=True
                ) from exc
            raise

    async def _run(self, inp: ScreeningInput) -> ScreeningReport:
        if inp.carried is not None:
            self._p = inp.carried.model_copy(update={"runs": inp.carried.runs + 1})
        else:
            try:
                prep = await workflow.execute_activity(
                    "screening.prepare",
                    PrepareInput(
                        year=inp.year,
                        screening_date=inp.screening_date,
                        rubric_path=inp.rubric_path,
                        workflow_id=workflow.info().workflow_id,
                    ),
                    result_type=PrepareResult,
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=RETRY,
                    summary=f"freeze population {inp.year}",
                )
            except ActivityError as exc:
                cause = exc.cause
                if isinstance(cause, ApplicationError) and cause.type == "InvalidRubric":
                    # The run's own failure says why, for the UI and `screen follow`.
                    raise ApplicationError(
                        cause.message, type="InvalidRubric", non_retryable=True
                    ) from exc
                raise
            self._p = ScreeningProgress(
                year=inp.year,
                screening_date=prep.screening_date,
                rubric_version=prep.rubric_version,
                total=prep.total,
                # A run resumed after a failure counts the cases told before it.
                delivered=prep.delivered,
                not_yet_due=prep.not_yet_due,
            )
        p = self._p
        self._show()
        pages = 0
        while p.phase == Phase.SCORING:
            if pages >= PAGES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                self._continue(inp)
            page = await workflow.execute_activity(
                "screening.score_page",
                ScorePageInput(year=p.year, after=p.score_cursor, limit=inp.page_size),
                result_type=ScorePageResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RETRY,
                summary=f"score after {p.score_cursor or 'start'}",
            )
            pages += 1
            if page.count:
                p.scored += page.count
                p.score_cursor = page.last
                p.bounds.append(page.last)
            if page.count < inp.page_size:
                p.phase = Phase.DELIVERING
            self._show()

        if p.phase == Phase.DELIVERING:
            done = set(p.delivered_pages)
            todo = [i for i in range(len(p.bounds)) if i not in done]
            batch = todo[: max(0, PAGES_PER_RUN - pages)]
            if todo and (not batch or workflow.info().is_continue_as_new_suggested()):
                self._continue(inp)
            gate = asyncio.Semaphore(inp.parallel_pages)
            await asyncio.gather(*(self._deliver(inp, i, gate) for i in batch))
            if len(batch) < len(todo):
                self._continue(inp)
            p.phase = Phase.REPORTING
            self._show()

        report: ScreeningReport = await workflow.execute_activity(
            "screening.report",
            p.year,
            result_type=ScreeningReport,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RETRY,
            summary="run report",
        )
        p.phase = Phase.DONE
        self._show(report)
        return report

    async def _deliver(self, inp: ScreeningInput, index: int, gate: asyncio.Semaphore) -> None:
        p = self._p
        assert p is not None
        async with gate:
            result = await workflow.execute_activity(
                "screening.deliver_page",
                DeliverPageInput(
                    year=p.year,
                    after=p.bounds[index - 1] if index else "",
                    upto=p.bounds[index],
                    signal_concurrency=inp.signal_concurrency,
                ),
                result_type=DeliverPageResult,
                start_to_close_timeout=timedelta(minutes=10),
                # A killed worker's page is retried after this long (it heartbeats per case).
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=RETRY,
                summary=f"tell page {index + 1}/{len(p.bounds)}",
            )
        p.delivered += result.signalled + result.case_ended
        p.case_ended += result.case_ended
        p.delivered_pages.append(index)
        self._show()

    def _continue(self, inp: ScreeningInput) -> None:
        workflow.continue_as_new(inp.model_copy(update={"carried": self._p}))

    @workflow.query(
        description=(
            "How far this yearly screening run is: phase, trainings scored and cases told "
            "of the total, the rubric version (`python -m starter screen follow`)."
        )
    )
    def progress(self) -> ScreeningProgress | None:
        return self._p

    def _show(self, report: ScreeningReport | None = None) -> None:
        p = self._p
        if p is None:
            return
        total = max(p.total, 1)
        lines = [
            f"## Screening {p.year}",
            f"Rubric **{p.rubric_version}**, trainings registered on "
            f"{p.screening_date.isoformat()}: **{p.total}**",
            "",
            f"- phase: **{p.phase.value}**",
            f"- scored: {p.scored} / {p.total} ({100 * p.scored // total}%)",
            f"- cases told: {p.delivered} / {p.total} ({100 * p.delivered // total}%)",
        ]
        if p.case_ended:
            lines.append(f"- cases that had ended (not told): {p.case_ended}")
        if p.not_yet_due:
            lines.append(f"- registered too recently, not yet due: {p.not_yet_due}")
        if report is not None:
            counts = ", ".join(f"{k}: {v}" for k, v in report.counts.items())
            lines += [
                "",
                f"**Done.** {counts}; not yet due: {report.not_yet_due}; "
                f"e-mails sent: {report.emails_sent}",
            ]
        workflow.set_current_details("\n".join(lines))


@workflow.defn(name="ScreeningScheduleWorkflow")
class ScreeningScheduleWorkflow:
    """What the schedule starts: works out the year from the scheduled time (so a backfill
    of a missed year screens that year) and runs that year's screening as a child with the
    year in its id. A second trigger for the same year finds it and starts nothing."""

    @workflow.run
    async def run(self, trigger: ScreeningTrigger) -> TriggerResult:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        when = (scheduled or workflow.now()).astimezone(BRUSSELS)
        # The scheduled day (a trigger by hand: today; a backfill: that year's date).
        year, screening_date = when.year, when.date()
        child_id = screening_workflow_id(year)
        try:
            handle = await workflow.start_child_workflow(
                ScreeningWorkflow.run,
                ScreeningInput(
                    year=year, screening_date=screening_date, page_size=trigger.page_size
                ),
                id=child_id,
                # A failed run (e.g. a bad rubric, since fixed) may be run again; a
                # completed or running one may not.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=f"Yearly screening {year}",
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info(
                "screening already run or running; nothing started", extra={"year": year}
            )
            return TriggerResult(year=year, workflow_id=child_id, started=False)
        report = await handle
        return TriggerResult(year=year, workflow_id=child_id, started=True, report=report)
