"""The case: one durable workflow per application, workflow id = dossier number.

It lives from submission to its end, possibly years later. Human decisions arrive as
updates whose validators refuse (without writing history) what the actor or the state does
not allow (`rules.guards`: the same rules the API checks first); the yearly screening
arrives as a signal. Deadlines are data (`rules.deadlines`) and durable timers
(`workflows.case_timers`). Each transition is recorded by one idempotent registry step, and
each e-mail it queues is delivered by an activity of its own (`workflows.case_recording`), so
a decision never waits for SMTP and a refusal's appeal window starts the day its e-mail went
out. This module keeps the state, the main wait, continue-as-new and the thin handlers:
check, record, apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import rules.case_view as case_view
    import rules.deadlines as deadlines
    import rules.guards as guards
    from models.archive import ARCHIVE_DOSSIER, ArchiveInput, ArchiveResult
    from models.case import (
        AppealInput,
        BecDecisionInput,
        CaseInput,
        CaseState,
        CaseStatus,
        CorrectReceiptInput,
        HearingInput,
        RegisterAppealInput,
        ReplacedInput,
        ReviewDecisionInput,
        RevokeInput,
        ScreeningOutcome,
        StopInput,
        WithdrawInput,
    )
    from models.identity import SYSTEM_ACTOR
    from models.steps import NotificationKind

from workflows.case_decisions import CaseDecisions
from workflows.case_recording import checked
from workflows.typed_update import typed_update

# A full disk or a lost database is waited out; the case stays open (and listed by `ops
# stuck` after 5 attempts) until its archive is written.
ARCHIVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["NotFound", "InvalidState"],
)


@workflow.defn(name="ApplicationWorkflow")
class ApplicationWorkflow(CaseDecisions):
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self._app = inp.application
        self._lock = asyncio.Lock()
        self._submitted = inp.carried is not None
        self._version = 0  # bumped by every change, so the main loop re-plans its timers
        self._cycle_done = False  # a screening cycle was handled: continue as new
        self._fresh_run_at: datetime | None = None  # when to continue as new after screening
        self._deliveries: set[asyncio.Task[None]] = set()
        self._resend: set[str] = set()  # rejected notices ops asked to send again
        if inp.carried is not None:
            self._s = inp.carried.model_copy(update={"runs": inp.carried.runs + 1})
        else:
            self._s = case_view.initial_status(inp.dossier, inp.application, inp.submitted_at)
        # Queries may arrive before the first step is recorded: they see who must act.
        self._s.waiting_for, self._s.next_step = case_view.who_and_what(self._s)

    # ------------------------------------------------------------------ main loop

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseStatus:
        self._publish()
        if inp.carried is None:
            async with self._lock:
                await self._submit(inp)
                self._submitted = True
        while self._s.state != CaseState.ENDED:
            wake = self._next_wake()
            seen = self._version
            try:
                await workflow.wait_condition(
                    functools.partial(self._woken, seen),
                    timeout=max(wake.at - workflow.now(), timedelta(0)) if wake.at else None,
                    timeout_summary=wake.summary,
                )
            except TimeoutError:
                if wake.fresh_run:
                    self._fresh_run_at = None
                    self._cycle_done = True
                    continue
                assert wake.deadline is not None
                async with self._lock:
                    await self._deadline_passed(wake.deadline)
                continue
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    CaseInput(
                        dossier=self._s.dossier,
                        application=self._app,
                        submitted_at=self._s.submitted_at,
                        carried=self._s,
                    )
                )
        if self._s.pending_notices:
            # An ended case still owes its last e-mails (a final refusal, a stop confirmation).
            await workflow.wait_condition(lambda: not self._s.pending_notices)
        if workflow.patched("archive-on-end"):
            # The record outlives both databases: one self-contained file of the ended
            # dossier, once its last e-mail is out (activities/archives.py; written once).
            try:
                await workflow.execute_activity(
                    ARCHIVE_DOSSIER,
                    ArchiveInput(dossier=self._s.dossier),
                    result_type=ArchiveResult,
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=ARCHIVE_RETRY,
                    summary=f"{self._s.dossier}: archive",
                )
            except ActivityError as exc:
                # Only a registry without this dossier gets here (not retried): the nightly
                # purge writes any missing archive before it takes anything of a dossier.
                workflow.logger.error("archive not written", extra={"error": str(exc.cause)})
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._s

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """One handler at a time, and never before the submission is recorded: an update
        can arrive in the very first workflow task, before the run method started."""
        if workflow.patched("submission-first"):
            await workflow.wait_condition(lambda: self._submitted)
        async with self._lock:
            yield

    def _woken(self, seen_version: int) -> bool:
        return self._version != seen_version or self._should_continue_as_new()

    def _should_continue_as_new(self) -> bool:
        if self._s.state == CaseState.ENDED or self._lock.locked() or self._s.pending_notices:
            return False
        return self._cycle_done or workflow.info().is_continue_as_new_suggested()

    async def _submit(self, inp: CaseInput) -> None:
        submitted_on = deadlines.brussels_day(inp.submitted_at)
        late = deadlines.submitted_late(submitted_on, self._app.start_date)
        self._s.late_submission_warning = late
        await self._record(
            "submitted",
            "application.submitted",
            SYSTEM_ACTOR,
            None,
            CaseState.UNDER_REVIEW,
            local=True,
            late_submission_warning=late,
            notifications=[
                self._mail(
                    NotificationKind.ACKNOWLEDGMENT,
                    submitted_on=submitted_on.isoformat(),
                    start_date=self._app.start_date.isoformat(),
                    late_warning=late,
                )
            ],
        )

    # ------------------------------------------------------------------ queries

    @workflow.query(
        description=(
            "The whole case as the portal and ops see it: state, decisions, appeals, "
            "deadlines, who acts next, e-mails not yet sent (`python -m starter show`)."
        )
    )
    def status(self) -> CaseStatus:
        return self._s

    # ------------------------------------------------------------------ review

    @typed_update(
        description=(
            "A reviewer of the competent body approves, or refuses with a written reason "
            "(`python -m starter decide`). The validator refuses it, without history, "
            "unless the case is under review and the actor reviews for its body."
        )
    )
    async def review_decision(self, inp: ReviewDecisionInput) -> CaseStatus:
        async with self._turn():
            with checked():
                guards.review(self._s, inp, accepted=True)
            return await self._review_decision(inp)

    @review_decision.validator
    def _validate_review(self, inp: ReviewDecisionInput) -> None:
        with checked():
            guards.review(self._s, inp)

    # ------------------------------------------------------------------ withdraw

    @typed_update(
        description=(
            "The provider withdraws its application before it is decided; the case ends "
            "(`python -m starter withdraw`)."
        )
    )
    async def withdraw(self, inp: WithdrawInput) -> CaseStatus:
        async with self._turn():
            with checked():
                guards.withdraw(self._s, inp, accepted=True)
            return await self._withdraw(inp)

    @withdraw.validator
    def _validate_withdraw(self, inp: WithdrawInput) -> None:
        with checked():
            guards.withdraw(self._s, inp)

    # ------------------------------------------------------------------ appeal

    @typed_update(
        description=(
            "The provider appeals a refusal or a negative screening to the BEC, with a "
            "motivation, within the 30-day window (`python -m starter appeal`)."
        )
    )
    async def file_appeal(self, inp: AppealInput) -> CaseStatus:
        async with self._turn():
            with checked():
                guards.appeal(self._s, inp, workflow.now(), accepted=True)
            return await self._file_appeal(inp)

    @file_appeal.validator
    def _validate_appeal(self, inp: AppealInput) -> None:
        with checked():
            guards.appeal(self._s, inp, workflow.now())

    @typed_update(
        description=(
            "The BEC secretariat registers an appeal that arrived by e-mail, with the "
            "moment it was received: the 30-day window and the BEC's 60 days are judged "
            "from it (`python -m starter register-appeal`)."
        )
    )
    async def register_appeal(self, inp: RegisterAppealInput) -> CaseStatus:
        async with self._turn():
            with checked():
                guards.register_appeal(self._s, inp, workflow.now(), accepted=True)
            return await self._register_appeal(inp)

    @register_appeal.validator
    def _validate_register_appeal(self, inp: RegisterAppealInput) -> None:
        with checked():
            guards.register_appeal(self._s, inp, workflow.now())

    # ------------------------------------------------------------------ hearing

    @typed_update(
        description=(
            "The BEC records the hearing (or its waiver) of the provider or the department "
            "(`python -m starter hearing`)."
        )
    )
    async def record_hearing(self, inp: HearingInput) -> CaseStatus:
        async with self._turn():
            with checked():
                appeal = guards.hearing(self._s, inp, workflow.now(), accepted=True)
            return await self._record_hearing(inp, appeal)

    @record_hearing.validator
    def _validate_hearing(self, inp: HearingInput) -> None:
        with checked():
            guards.hearing(self._s, inp, workflow.now())

    # ------------------------------------------------------------------ BEC decision

    @typed_update(
        description=(
            "The BEC grants (registered) or rejects (final refusal) the appeal, once both "
            "sides were heard (`python -m starter bec-decide`)."
        )
    )
    async def bec_decision(self, inp: BecDecisionInput) -> CaseStatus:
        async with self._turn():
            with checked():
                appeal = guards.bec_decision(self._s, inp, accepted=True)
            return await self._bec_decision(inp, appeal)

    @bec_decision.validator
    def _validate_bec_decision(self, inp: BecDecisionInput) -> None:
        with checked():
            guards.bec_decision(self._s, inp)

    # ------------------------------------------------------------------ stop / revoke

    @typed_update(
        description=(
            "The provider stops a registration; the case ends and the provider gets a "
            "confirmation (`python -m starter stop`)."
        )
    )
    async def stop(self, inp: StopInput) -> CaseStatus:
        async with self._turn():
            with checked():
                guards.stop(self._s, inp, accepted=True)
            return await self._stop(inp)

    @stop.validator
    def _validate_stop(self, inp: StopInput) -> None:
        with checked():
            guards.stop(self._s, inp)

    @typed_update(
        description=(
            "The department revokes a registration that no longer meets the criteria, with "
            "a reason (`python -m starter revoke`)."
        )
    )
    async def revoke(self, inp: RevokeInput) -> CaseStatus:
        async with self._turn():
            with checked():
                guards.revoke(self._s, inp, accepted=True)
            return await self._revoke(inp)

    @revoke.validator
    def _validate_revoke(self, inp: RevokeInput) -> None:
        with checked():
            guards.revoke(self._s, inp)

    # ------------------------------------------------------------------ corrections

    @typed_update(
        description=(
            "The department corrects the day a decision or an appeal was received; the "
            "appeal window or the BEC deadline moves with it (`python -m starter "
            "receipt-date`)."
        )
    )
    async def correct_receipt_date(self, inp: CorrectReceiptInput) -> CaseStatus:
        async with self._turn():
            with checked():
                guards.correction(self._s, inp, workflow.now(), accepted=True)
            return await self._correct_receipt_date(inp)

    @correct_receipt_date.validator
    def _validate_correction(self, inp: CorrectReceiptInput) -> None:
        with checked():
            guards.correction(self._s, inp, workflow.now())

    # ------------------------------------------------------------------ screening

    @workflow.signal(
        description=(
            "The yearly screening's result for this training, from the screening run: "
            "positive extends the registration; negative schedules its removal on 31 "
            "December of the next year and opens an appeal window. A repeat for the same "
            "year is ignored."
        )
    )
    async def screening_outcome(self, outcome: ScreeningOutcome) -> None:
        async with self._turn():
            await self._screened(outcome)

    # ------------------------------------------------------------------ notices

    @workflow.signal(
        description=(
            "A resubmission of this training was registered (sent by the new case): this "
            "registration ends the day before the new one starts, reason replaced."
        )
    )
    async def replaced(self, inp: ReplacedInput) -> None:
        """A resubmission of this training is registered: this registration ends."""
        async with self._turn():
            await self._replaced(inp)

    @workflow.signal(
        description=(
            "Ops send again, by its Message-ID, an e-mail the mail server refused (`python "
            "-m starter mail resend`)."
        )
    )
    def retry_notice(self, message_id: str) -> None:
        """Ops resent a notice the mail server had refused (`python -m starter mail resend`)."""
        self._resend.add(message_id)
