"""The case: one durable workflow per application, workflow id = dossier number.

It lives from submission to its end, possibly years later. Human decisions arrive as
updates whose validators refuse (without writing history) what the actor or the state does
not allow; the yearly screening arrives as a signal. Deadlines are data (how they were
computed is kept) and durable timers. Each transition is recorded by one idempotent
registry step keyed by (dossier, step), which queues that step's e-mails; each e-mail is
then delivered by an activity of its own, so a decision never waits for SMTP, and the appeal
window of a refusal starts on the day its e-mail actually went out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import rules.deadlines as deadlines
    import workflows.case_view as case_view
    from activities.registry import RegistryActivities
    from models.case import (
        Appeal,
        AppealInput,
        AppealSubject,
        BecDecisionInput,
        CaseInput,
        CaseState,
        CaseStatus,
        CorrectReceiptInput,
        Deadline,
        DeadlineKind,
        Decision,
        EndReason,
        Hearing,
        HearingInput,
        HearingSide,
        PendingNotice,
        ReviewDecisionInput,
        RevokeInput,
        ScreeningOutcome,
        StepLog,
        StopInput,
        WithdrawInput,
    )
    from models.dutch import dutch_date
    from models.errors import Refusal
    from models.identity import SYSTEM_ACTOR, Actor, RoleKind
    from models.steps import (
        NoticeSent,
        NotificationKind,
        NotificationRequest,
        Recipient,
        RegistrationEnd,
        SendNoticeInput,
        StepInput,
    )
    from rules.notices import message_id

# A database outage is retried until it is over; a refused input is not retried.
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[Refusal.INVALID_INPUT, Refusal.NOT_FOUND, Refusal.CONFLICT],
)
# A notice is retried until SMTP takes it: an outage delays it, never loses it. The
# interval stays short so a notice goes out within seconds of the server's return.
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["NoticeRejected", Refusal.NOT_FOUND],
)
HISTORY_KEPT = 30  # steps kept in the workflow; the registry keeps the full audit trail
SCREENINGS_KEPT = 5
MIN_REASON = 10  # a written reason of fewer characters is not a reason

REGISTERED_STATES = (CaseState.REGISTERED, CaseState.REMOVAL_SCHEDULED)


def _refuse(kind: Refusal, message: str, field: str | None = None) -> ApplicationError:
    # The field (as the portal names it) lets the API point at the offending input.
    details = [{"field": field}] if field else []
    return ApplicationError(message, *details, type=kind, non_retryable=True)


def _require_reason(reason: str, what: str) -> None:
    if len(reason.strip()) < MIN_REASON:
        raise _refuse(
            Refusal.INVALID_INPUT,
            f"{what} needs a written reason of at least {MIN_REASON} characters",
            field="reason",
        )


@workflow.defn(name="ApplicationWorkflow")
class ApplicationWorkflow:
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
            self._s = CaseStatus(
                dossier=inp.dossier,
                title=inp.application.title,
                provider=inp.application.provider,
                competent_body=inp.application.competent_body,
                state=CaseState.UNDER_REVIEW,
                submitted_at=inp.submitted_at,
            )
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
            timer = case_view.next_timer(self._s)
            fresh_run_at = self._fresh_run_at
            if fresh_run_at is not None and timer is not None and timer.due_at <= fresh_run_at:
                fresh_run_at = None  # the deadline comes first; the fresh run waits for it
            wake_at: datetime | None = None
            summary: str | None = None
            if fresh_run_at is not None:
                wake_at, summary = fresh_run_at, case_view.FRESH_RUN_SUMMARY
            elif timer is not None:
                wake_at, summary = timer.due_at, case_view.timer_summary(timer)
            seen = self._version
            try:
                await workflow.wait_condition(
                    functools.partial(self._woken, seen),
                    timeout=max(wake_at - workflow.now(), timedelta(0)) if wake_at else None,
                    timeout_summary=summary,
                )
            except TimeoutError:
                if fresh_run_at is not None:
                    self._fresh_run_at = None
                    self._cycle_done = True
                    continue
                assert timer is not None
                async with self._lock:
                    await self._deadline_passed(timer)
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
        await self._record_waited_for(
            "submitted",
            "application.submitted",
            SYSTEM_ACTOR,
            None,
            CaseState.UNDER_REVIEW,
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

    @workflow.query
    def status(self) -> CaseStatus:
        return self._s

    # ------------------------------------------------------------------ review

    def _check_review(self, inp: ReviewDecisionInput) -> None:
        body = self._s.competent_body
        if not inp.actor.reviews_for(body):
            raise _refuse(
                Refusal.FORBIDDEN,
                f"only a reviewer of {body}, the competent body of {self._s.dossier}, "
                "can decide on this application",
            )
        self._expect(CaseState.UNDER_REVIEW, "decide on the application")
        if not inp.approve:
            _require_reason(inp.reason, "a refusal")

    @workflow.update
    async def review_decision(self, inp: ReviewDecisionInput) -> CaseStatus:
        async with self._turn():
            self._check_review(inp)
            now = workflow.now()
            today = deadlines.brussels_day(now)
            decision = Decision(
                kind="review",
                outcome="approved" if inp.approve else "refused",
                reason=inp.reason.strip(),
                decided_at=now,
                decided_by=inp.actor.subject,
                body=self._s.competent_body,
            )
            apart = self._notices_apart("review")
            if inp.approve:
                await self._record_waited_for(
                    "review",
                    "application.approved",
                    inp.actor,
                    self._s.state,
                    CaseState.REGISTERED,
                    decision=decision,
                    open_registration=today,
                    notifications=[
                        self._mail(
                            NotificationKind.APPROVAL,
                            decided_on=today.isoformat(),
                            registered_from=today.isoformat(),
                        )
                    ],
                )
                self._s.registered_from = today
                self._s.state = CaseState.REGISTERED
            elif apart:
                # The window runs from receipt, the day the refusal e-mail goes out: it
                # starts when that notice is sent (`_notice_sent`), not now.
                refusal = self._mail(
                    NotificationKind.REFUSAL, decided_on=today.isoformat(), reason=decision.reason
                )
                await self._record_waited_for(
                    "review",
                    "application.refused",
                    inp.actor,
                    self._s.state,
                    CaseState.REFUSED,
                    decision=decision,
                    notifications=[refusal],
                )
                self._s.appeal_window_subject = AppealSubject.REFUSAL
                self._s.window_starts_with = self._message_id(refusal, "review")
                self._s.state = CaseState.REFUSED
            else:
                # Cases decided before notices were sent apart: e-mailed at once, received
                # today.
                window = deadlines.appeal_window(today)
                await self._record_waited_for(
                    "review",
                    "application.refused",
                    inp.actor,
                    self._s.state,
                    CaseState.REFUSED,
                    decision=decision,
                    deadlines=[window],
                    notifications=[
                        self._mail(
                            NotificationKind.REFUSAL,
                            decided_on=today.isoformat(),
                            reason=decision.reason,
                            appeal_deadline=window.last_day.isoformat(),
                        )
                    ],
                )
                self._s.appeal_window = window
                self._s.appeal_window_subject = AppealSubject.REFUSAL
                self._s.state = CaseState.REFUSED
            self._s.decisions.append(decision)
            self._changed()
            return self._s

    @review_decision.validator
    def _validate_review(self, inp: ReviewDecisionInput) -> None:
        self._check_review(inp)

    # ------------------------------------------------------------------ withdraw

    def _check_withdraw(self, inp: WithdrawInput) -> None:
        self._check_provider(inp.actor, "withdraw this application")
        self._expect(CaseState.UNDER_REVIEW, "withdraw the application (only before a decision)")

    @workflow.update
    async def withdraw(self, inp: WithdrawInput) -> CaseStatus:
        async with self._turn():
            self._check_withdraw(inp)
            today = deadlines.brussels_day(workflow.now())
            await self._record_waited_for(
                "withdrawn",
                "application.withdrawn",
                inp.actor,
                self._s.state,
                CaseState.ENDED,
                details={"reason": inp.reason},
                notifications=[
                    self._mail(NotificationKind.WITHDRAWAL, withdrawn_on=today.isoformat())
                ],
            )
            self._end(EndReason.WITHDRAWN)
            return self._s

    @withdraw.validator
    def _validate_withdraw(self, inp: WithdrawInput) -> None:
        self._check_withdraw(inp)

    # ------------------------------------------------------------------ appeal

    def _check_appeal(self, inp: AppealInput) -> None:
        self._check_provider(inp.actor, "appeal this decision")
        window = self._s.appeal_window
        lapsed = self._s.lapsed_window
        notice_unsent = (
            self._s.window_starts_with is not None and self._s.state == CaseState.REFUSED
        )
        if window is None and lapsed is not None and not notice_unsent:
            raise _refuse(
                Refusal.WINDOW_CLOSED,
                f"the appeal window closed at the end of {dutch_date(lapsed.last_day)}; "
                "an appeal can no longer be filed",
            )
        if (window is None and not notice_unsent) or self._s.state not in (
            CaseState.REFUSED,
            CaseState.REMOVAL_SCHEDULED,
        ):
            raise _refuse(
                Refusal.INVALID_STATE,
                f"{self._s.dossier} has no decision open to appeal (state: {self._s.state.value})",
            )
        if self._s.open_appeal is not None:
            raise _refuse(
                Refusal.INVALID_STATE,
                f"an appeal for {self._s.dossier} is already at the BEC; wait for its decision",
            )
        # Not yet notified: the window has not even started, so an appeal is in time.
        if window is not None and workflow.now() >= window.due_at:
            raise _refuse(
                Refusal.WINDOW_CLOSED,
                f"the appeal window closed at the end of {dutch_date(window.last_day)}; "
                "an appeal can no longer be filed",
            )
        if len(inp.motivation.strip()) < MIN_REASON:
            raise _refuse(
                Refusal.INVALID_INPUT,
                "an appeal needs a motivation (at least 10 characters) citing the dossier",
                field="motivation",
            )

    @workflow.update
    async def file_appeal(self, inp: AppealInput) -> CaseStatus:
        async with self._turn():
            self._check_appeal(inp)
            now = workflow.now()
            today = deadlines.brussels_day(now)
            subject = self._s.appeal_window_subject or AppealSubject.REFUSAL
            number = len(self._s.appeals) + 1
            appeal = Appeal(
                number=number,
                subject=subject,
                filed_at=now,
                filed_by=inp.actor.subject,
                motivation=inp.motivation.strip(),
                deadline=deadlines.bec_decision_deadline(today),
            )
            after = CaseState.IN_APPEAL if subject == AppealSubject.REFUSAL else self._s.state
            await self._record_waited_for(
                f"appeal-{number}",
                "application.appeal.filed",
                inp.actor,
                self._s.state,
                after,
                appeal=appeal,
                appeal_number=number,
                deadlines=[appeal.deadline],
                details={"document_reference": inp.document_reference},
                notifications=[
                    self._mail(
                        NotificationKind.APPEAL_RECEIVED,
                        appeal_number=number,
                        filed_on=today.isoformat(),
                        decision_deadline=appeal.deadline.last_day.isoformat(),
                        subject=subject.value,
                    )
                ],
            )
            self._s.appeals.append(appeal)
            self._s.appeal_window = None
            self._s.window_starts_with = None  # appealed already: no window to start
            self._s.state = after
            self._changed()
            return self._s

    @file_appeal.validator
    def _validate_appeal(self, inp: AppealInput) -> None:
        self._check_appeal(inp)

    # ------------------------------------------------------------------ hearing

    def _check_hearing(self, inp: HearingInput) -> Appeal:
        self._check_bec(inp.actor, "record a hearing")
        appeal = self._open_appeal_or_refuse("record a hearing")
        if appeal.heard(inp.side):
            raise _refuse(
                Refusal.INVALID_STATE,
                f"the {inp.side.value} was already heard (or the hearing waived) "
                f"in appeal {appeal.number}",
            )
        if inp.held_on is not None and inp.held_on > deadlines.brussels_day(workflow.now()):
            raise _refuse(
                Refusal.INVALID_INPUT, "held_on: a hearing cannot be in the future", "held_on"
            )
        return appeal

    @workflow.update
    async def record_hearing(self, inp: HearingInput) -> CaseStatus:
        async with self._turn():
            appeal = self._check_hearing(inp)
            hearing = Hearing(
                side=inp.side,
                waived=inp.waived,
                held_on=inp.held_on or deadlines.brussels_day(workflow.now()),
                note=inp.note,
                recorded_by=inp.actor.subject,
            )
            await self._record_waited_for(
                f"appeal-{appeal.number}-hearing-{inp.side.value}",
                "application.appeal.hearing_waived" if inp.waived else "application.appeal.heard",
                inp.actor,
                self._s.state,
                self._s.state,
                hearing=hearing,
                appeal_number=appeal.number,
            )
            appeal.hearings.append(hearing)
            self._changed()
            return self._s

    @record_hearing.validator
    def _validate_hearing(self, inp: HearingInput) -> None:
        self._check_hearing(inp)

    # ------------------------------------------------------------------ BEC decision

    def _check_bec_decision(self, inp: BecDecisionInput) -> Appeal:
        self._check_bec(inp.actor, "decide on an appeal")
        appeal = self._open_appeal_or_refuse("decide on an appeal")
        missing = [s.value for s in HearingSide if not appeal.heard(s)]
        if missing:
            raise _refuse(
                Refusal.INVALID_STATE,
                "the BEC decides only after hearing both sides: record the hearing "
                f"(or its waiver) of the {' and the '.join(missing)} first",
            )
        _require_reason(inp.reason, "a BEC decision")
        return appeal

    @workflow.update
    async def bec_decision(self, inp: BecDecisionInput) -> CaseStatus:
        async with self._turn():
            appeal = self._check_bec_decision(inp)
            now = workflow.now()
            today = deadlines.brussels_day(now)
            decision = Decision(
                kind="appeal",
                outcome="granted" if inp.granted else "rejected",
                reason=inp.reason.strip(),
                decided_at=now,
                decided_by=inp.actor.subject,
                body="BEC",
            )
            context: dict[str, object] = {
                "granted": inp.granted,
                "reason": decision.reason,
                "decided_on": today.isoformat(),
                "subject": appeal.subject.value,
            }
            screening = appeal.subject == AppealSubject.SCREENING
            if inp.granted and screening:
                after, event = CaseState.REGISTERED, "application.appeal.granted"
                extra: dict[str, object] = {"cancel_removal": True}
            elif inp.granted:
                after, event = CaseState.REGISTERED, "application.appeal.granted"
                extra = {"open_registration": today}
                context["registered_from"] = today.isoformat()
            elif screening:
                after, event = CaseState.REMOVAL_SCHEDULED, "application.appeal.rejected"
                extra = {}
                if self._s.removal is not None:
                    context["removal_on"] = self._s.removal.last_day.isoformat()
            else:
                after, event = CaseState.ENDED, "application.appeal.rejected"
                extra = {}
            await self._record_waited_for(
                f"appeal-{appeal.number}-decision",
                event,
                inp.actor,
                self._s.state,
                after,
                decision=decision,
                appeal_number=appeal.number,
                notifications=[self._mail(NotificationKind.BEC_DECISION, **context)],
                **extra,
            )
            appeal.decision = decision
            self._s.decisions.append(decision)
            if inp.granted and screening:
                self._s.removal = None
                self._s.registered_until = None
                self._s.state = CaseState.REGISTERED
            elif inp.granted:
                self._s.registered_from = today
                self._s.state = CaseState.REGISTERED
            elif not screening:
                self._end(EndReason.APPEAL_REJECTED)
            self._changed()
            return self._s

    @bec_decision.validator
    def _validate_bec_decision(self, inp: BecDecisionInput) -> None:
        self._check_bec_decision(inp)

    # ------------------------------------------------------------------ stop / revoke

    def _check_stop(self, inp: StopInput) -> None:
        self._check_provider(inp.actor, "stop this registration")
        self._expect_registered("stop the registration")

    @workflow.update
    async def stop(self, inp: StopInput) -> CaseStatus:
        async with self._turn():
            self._check_stop(inp)
            await self._end_registration(
                "stop",
                "application.stopped",
                inp.actor,
                EndReason.STOPPED,
                NotificationKind.STOP_CONFIRMATION,
                inp.reason,
            )
            return self._s

    @stop.validator
    def _validate_stop(self, inp: StopInput) -> None:
        self._check_stop(inp)

    def _check_revoke(self, inp: RevokeInput) -> None:
        if not inp.actor.has(RoleKind.DEPARTMENT):
            raise _refuse(Refusal.FORBIDDEN, "only department WSE staff can revoke a registration")
        self._expect_registered("revoke the registration")
        _require_reason(inp.reason, "a revocation")

    @workflow.update
    async def revoke(self, inp: RevokeInput) -> CaseStatus:
        async with self._turn():
            self._check_revoke(inp)
            await self._end_registration(
                "revoke",
                "application.revoked",
                inp.actor,
                EndReason.REVOKED,
                NotificationKind.REVOCATION,
                inp.reason.strip(),
            )
            return self._s

    @revoke.validator
    def _validate_revoke(self, inp: RevokeInput) -> None:
        self._check_revoke(inp)

    async def _end_registration(
        self,
        step: str,
        event: str,
        actor: Actor,
        reason: EndReason,
        kind: NotificationKind,
        why: str,
    ) -> None:
        # The day of the stop or revocation is the last registered day.
        last_day = deadlines.brussels_day(workflow.now())
        context: dict[str, object] = {"last_day": last_day.isoformat()}
        if kind == NotificationKind.REVOCATION:
            context["reason"] = why
        await self._record_waited_for(
            step,
            event,
            actor,
            self._s.state,
            CaseState.ENDED,
            close_registration=RegistrationEnd(last_day=last_day, reason=reason),
            details={"reason": why},
            notifications=[self._mail(kind, **context)],
        )
        self._s.registered_until = last_day
        self._end(reason)

    # ------------------------------------------------------------------ corrections

    def _check_correction(self, inp: CorrectReceiptInput) -> None:
        if not inp.actor.has(RoleKind.DEPARTMENT):
            raise _refuse(Refusal.FORBIDDEN, "only department WSE staff can correct a receipt date")
        _require_reason(inp.reason, "a correction")
        today = deadlines.brussels_day(workflow.now())
        if inp.received_on > today:
            raise _refuse(
                Refusal.INVALID_INPUT,
                "received_on: a receipt date cannot be in the future",
                "received_on",
            )
        if inp.deadline == DeadlineKind.APPEAL_WINDOW:
            window = self._s.appeal_window
            if window is None and self._s.window_starts_with is None:
                raise _refuse(
                    Refusal.INVALID_STATE,
                    f"{self._s.dossier} has no open appeal window to correct",
                )
            sent_on = self._appealed_decision_day(self._s.appeal_window_subject)
            if inp.received_on < sent_on:
                raise _refuse(
                    Refusal.INVALID_INPUT,
                    "received_on: a decision cannot be received before it was sent "
                    f"({sent_on.isoformat()})",
                    "received_on",
                )
        elif inp.deadline == DeadlineKind.BEC_DECISION:
            appeal = self._open_appeal_or_refuse("correct the appeal's receipt date")
            sent_on = self._appealed_decision_day(appeal.subject)
            if inp.received_on < sent_on:
                raise _refuse(
                    Refusal.INVALID_INPUT,
                    "received_on: an appeal cannot be received before the decision it "
                    f"appeals was sent ({sent_on.isoformat()})",
                    "received_on",
                )
        else:
            raise _refuse(
                Refusal.INVALID_INPUT,
                "deadline: the removal date follows from the screening notice; correct the "
                "appeal_window's receipt date of that notice instead",
                "deadline",
            )

    @workflow.update
    async def correct_receipt_date(self, inp: CorrectReceiptInput) -> CaseStatus:
        async with self._turn():
            self._check_correction(inp)
            number = sum(1 for h in self._s.history if h.step.startswith("correction-")) + 1
            changed: list[Deadline] = []
            removal: Deadline | None = None
            if inp.deadline == DeadlineKind.APPEAL_WINDOW:
                window = deadlines.appeal_window(inp.received_on)
                changed.append(window)
                if self._s.appeal_window_subject == AppealSubject.SCREENING:
                    removal = deadlines.removal_after_negative_screening(inp.received_on)
                    changed.append(removal)
            else:
                appeal = self._s.open_appeal
                assert appeal is not None
                window = deadlines.bec_decision_deadline(inp.received_on)
                changed.append(window)
            await self._record_waited_for(
                f"correction-{self._s.runs}-{number}",
                "application.deadline.corrected",
                inp.actor,
                self._s.state,
                self._s.state,
                deadlines=changed,
                removal_on=removal.last_day if removal else None,
                details={"reason": inp.reason, "received_on": inp.received_on.isoformat()},
                notifications=[
                    self._mail(
                        NotificationKind.DEADLINE_CORRECTED,
                        deadline_kind=inp.deadline.value,
                        received_on=inp.received_on.isoformat(),
                        last_day=window.last_day.isoformat(),
                        reason=inp.reason.strip(),
                    )
                ],
            )
            if inp.deadline == DeadlineKind.APPEAL_WINDOW:
                self._s.appeal_window = window
                # The department fixed the receipt: the notice no longer starts the window.
                self._s.window_starts_with = None
                if removal is not None:
                    self._s.removal = removal
                    self._s.registered_until = removal.last_day
            else:
                appeal = self._s.open_appeal
                assert appeal is not None
                appeal.deadline = window
                appeal.overdue = appeal.overdue and workflow.now() >= window.due_at
            self._changed()
            return self._s

    @correct_receipt_date.validator
    def _validate_correction(self, inp: CorrectReceiptInput) -> None:
        self._check_correction(inp)

    # ------------------------------------------------------------------ screening

    @workflow.signal
    async def screening_outcome(self, outcome: ScreeningOutcome) -> None:
        async with self._turn():
            if any(s.year == outcome.year for s in self._s.screenings):
                workflow.logger.info(
                    "screening outcome repeated; ignored",
                    extra={"dossier": self._s.dossier, "year": outcome.year},
                )
                return
            if self._s.state not in REGISTERED_STATES:
                workflow.logger.warning(
                    "screening outcome for a case that is not registered; ignored",
                    extra={"dossier": self._s.dossier, "state": self._s.state.value},
                )
                return
            if not outcome.passed and self._s.state == CaseState.REGISTERED:
                window = deadlines.appeal_window(outcome.notified_on)
                removal = deadlines.removal_after_negative_screening(outcome.notified_on)
                # The screening run already e-mailed the provider; this records the case's side.
                await self._record(
                    f"screening-{outcome.year}",
                    "application.screening.negative",
                    SYSTEM_ACTOR,
                    self._s.state,
                    CaseState.REMOVAL_SCHEDULED,
                    screening=outcome,
                    removal_on=removal.last_day,
                    deadlines=[window, removal],
                )
                self._s.appeal_window = window
                self._s.appeal_window_subject = AppealSubject.SCREENING
                self._s.lapsed_window = None
                self._s.removal = removal
                self._s.registered_until = removal.last_day
                self._s.state = CaseState.REMOVAL_SCHEDULED
            self._s.screenings = [*self._s.screenings, outcome][-SCREENINGS_KEPT:]
            self._log(
                f"screening-{outcome.year}",
                SYSTEM_ACTOR,
                "application.screening.positive"
                if outcome.passed
                else "application.screening.negative",
            )
            if outcome.continue_as_new_within_days:
                spread = timedelta(days=outcome.continue_as_new_within_days)
                self._fresh_run_at = workflow.now() + spread * workflow.random().random()
            else:
                self._cycle_done = True
            self._changed()

    # ------------------------------------------------------------------ deadlines

    async def _deadline_passed(self, deadline: Deadline) -> None:
        # Re-checked under the lock: an update may have closed this deadline meanwhile.
        if deadline.kind == DeadlineKind.APPEAL_WINDOW and self._s.appeal_window == deadline:
            self._s.appeal_window = None
            self._s.lapsed_window = deadline
            if self._s.state == CaseState.REFUSED:
                await self._record(
                    "refusal-final",
                    "application.refusal.final",
                    SYSTEM_ACTOR,
                    self._s.state,
                    CaseState.ENDED,
                    notifications=[
                        self._mail(
                            NotificationKind.FINAL_REFUSAL,
                            lapsed_on=deadline.last_day.isoformat(),
                        )
                    ],
                )
                self._end(EndReason.FINALLY_REFUSED)
            else:
                self._log("appeal-window-lapsed", SYSTEM_ACTOR, "application.appeal.window_lapsed")
        elif deadline.kind == DeadlineKind.BEC_DECISION:
            appeal = self._s.open_appeal
            if appeal is None or appeal.overdue or appeal.deadline != deadline:
                return
            context = {
                "appeal_number": appeal.number,
                "filed_on": deadlines.brussels_day(appeal.filed_at).isoformat(),
                "decision_deadline": deadline.last_day.isoformat(),
            }
            await self._record(
                f"appeal-{appeal.number}-overdue",
                "application.appeal.overdue",
                SYSTEM_ACTOR,
                self._s.state,
                self._s.state,
                appeal_number=appeal.number,
                notifications=[
                    NotificationRequest(
                        kind=NotificationKind.BEC_OVERDUE, to=to, context=self._context(context)
                    )
                    for to in (Recipient.BEC, Recipient.DEPARTMENT)
                ],
            )
            appeal.overdue = True
        elif (
            deadline.kind == DeadlineKind.REMOVAL
            and self._s.removal == deadline
            and self._s.state == CaseState.REMOVAL_SCHEDULED
        ):
            await self._record(
                "removal",
                "application.removed",
                SYSTEM_ACTOR,
                self._s.state,
                CaseState.ENDED,
                close_registration=RegistrationEnd(
                    last_day=deadline.last_day, reason=EndReason.REMOVED
                ),
                notifications=[
                    self._mail(NotificationKind.REMOVAL, last_day=deadline.last_day.isoformat())
                ],
            )
            self._s.appeal_window = None
            self._end(EndReason.REMOVED)
        self._changed()

    # ------------------------------------------------------------------ checks

    def _expect(self, state: CaseState, action: str) -> None:
        if self._s.state != state:
            raise _refuse(
                Refusal.INVALID_STATE,
                f"cannot {action}: {self._s.dossier} is {case_view.describe_state(self._s)}",
            )

    def _expect_registered(self, action: str) -> None:
        if self._s.state not in REGISTERED_STATES:
            raise _refuse(
                Refusal.INVALID_STATE,
                f"cannot {action}: {self._s.dossier} is {case_view.describe_state(self._s)}",
            )

    def _check_provider(self, actor: Actor, action: str) -> None:
        if not actor.has(RoleKind.PROVIDER):
            raise _refuse(
                Refusal.FORBIDDEN,
                f"only the provider's 'DWSE organisatieverantwoordelijke' (context "
                f"opleidingsdatabank) can {action}; ask your organisation's local "
                "administrator for that right",
            )
        if not actor.is_provider_of(self._s.provider):
            raise _refuse(
                Refusal.FORBIDDEN,
                f"{self._s.dossier} belongs to another organisation; you can only {action} "
                "for your own organisation's dossiers",
            )

    def _check_bec(self, actor: Actor, action: str) -> None:
        if not actor.has(RoleKind.BEC):
            raise _refuse(
                Refusal.FORBIDDEN,
                f"only a member of the beroeps- en evaluatiecommissie (BEC) can {action}",
            )

    def _open_appeal_or_refuse(self, action: str) -> Appeal:
        appeal = self._s.open_appeal
        if appeal is None or self._s.state == CaseState.ENDED:
            raise _refuse(
                Refusal.INVALID_STATE,
                f"cannot {action}: {self._s.dossier} has no appeal pending at the BEC",
            )
        return appeal

    def _appealed_decision_day(self, subject: AppealSubject | None) -> date:
        """The day the decision open to appeal was sent (refusal or screening notice)."""
        if subject == AppealSubject.SCREENING:
            negatives = [o for o in self._s.screenings if not o.passed]
            if negatives:
                return negatives[-1].notified_on
        reviews = [d for d in self._s.decisions if d.kind == "review"]
        if reviews:
            return deadlines.brussels_day(reviews[-1].decided_at)
        return deadlines.brussels_day(self._s.submitted_at)

    # ------------------------------------------------------------------ recording

    def _context(self, values: dict[str, object]) -> dict[str, object]:
        return {
            "dossier": self._s.dossier,
            "title": self._s.title,
            "provider_name": self._app.provider_name,
            "competent_body": self._s.competent_body,
            **values,
        }

    def _mail(self, kind: NotificationKind, **values: object) -> NotificationRequest:
        return NotificationRequest(kind=kind, to=Recipient.PROVIDER, context=self._context(values))

    async def _record_waited_for(
        self,
        step: str,
        event: str,
        actor: Actor,
        before: CaseState | None,
        after: CaseState,
        **fields: object,
    ) -> None:
        """A step a person waits for: the submission, or a decision sent by the portal."""
        await self._record(step, event, actor, before, after, local=True, **fields)

    async def _record(
        self,
        step: str,
        event: str,
        actor: Actor,
        before: CaseState | None,
        after: CaseState,
        *,
        local: bool = False,
        **fields: object,
    ) -> None:
        notifications = fields.get("notifications")
        apart = bool(notifications) and self._notices_apart(step)
        step_input = StepInput(
            dossier=self._s.dossier,
            step=step,
            at=workflow.now(),
            actor=actor,
            event=event,
            state_before=before.value if before else None,
            state_after=after.value,
            competent_body=self._s.competent_body,
            notices_apart=apart,
            **fields,
        )
        summary = f"{self._s.dossier}: {event}"
        if local and workflow.patched("local-registry-steps"):
            # A person waits for this step (submission, a decision): one short transaction
            # on the worker's own pool, run as a local activity inside the workflow task,
            # which halves the case's round trips to the server. A long outage still backs
            # off on durable timers past the local threshold. Steps nobody waits for (timers,
            # screening) stay ordinary activities, visible as such in the Web UI.
            await workflow.execute_local_activity_method(
                RegistryActivities.record_step,
                step_input,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                local_retry_threshold=timedelta(seconds=30),
                summary=summary,
            )
        else:
            await workflow.execute_activity_method(
                RegistryActivities.record_step,
                step_input,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                summary=summary,
            )
        self._log(step, actor, event)
        if apart and isinstance(notifications, list):
            for request in notifications:
                self._start_delivery(
                    PendingNotice(
                        message_id=self._message_id(request, step),
                        kind=request.kind.value,
                        step=step,
                    )
                )

    # ------------------------------------------------------------------ notices

    def _notices_apart(self, step: str) -> bool:
        """Whether this step's e-mails are delivered by activities of their own. One patch
        per step, so a case recorded before the change replays its old steps unchanged and
        still takes the new way for every step after it."""
        return workflow.patched(f"notices-apart-{step}")

    def _message_id(self, request: NotificationRequest, step: str) -> str:
        return message_id(self._s.dossier, request.kind, step, request.to)

    def _start_delivery(self, notice: PendingNotice) -> None:
        self._s.pending_notices = [*self._s.pending_notices, notice]
        task = asyncio.create_task(self._deliver(notice))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, notice: PendingNotice) -> None:
        # In the order they were queued: the provider reads the acknowledgment before the
        # decision, whatever the mail server did in between.
        await workflow.wait_condition(
            lambda: self._s.pending_notices[0].message_id == notice.message_id
        )
        while True:
            try:
                sent = await workflow.execute_activity(
                    "notifications.send",
                    SendNoticeInput(message_id=notice.message_id),
                    result_type=NoticeSent,
                    start_to_close_timeout=timedelta(minutes=2),
                    # A worker killed mid-send is noticed after this, not after two minutes.
                    heartbeat_timeout=timedelta(seconds=15),
                    retry_policy=NOTICE_RETRY,
                    summary=f"{self._s.dossier}: e-mail {notice.kind}",
                )
                break
            except ActivityError as exc:
                # Refused for good by the mail server: ops fix the cause and resend it.
                cause = exc.cause
                why = cause.message if isinstance(cause, ApplicationError) else str(exc)
                self._set_rejected(notice.message_id, why)
                await workflow.wait_condition(lambda: notice.message_id in self._resend)
                self._resend.discard(notice.message_id)
                self._set_rejected(notice.message_id, "")
        async with self._lock:
            await self._notice_sent(notice, sent)

    def _set_rejected(self, message_id: str, why: str) -> None:
        self._s.pending_notices = [
            n.model_copy(update={"rejected": why}) if n.message_id == message_id else n
            for n in self._s.pending_notices
        ]
        self._changed()

    async def _notice_sent(self, notice: PendingNotice, sent: NoticeSent) -> None:
        self._s.pending_notices = [
            n for n in self._s.pending_notices if n.message_id != notice.message_id
        ]
        if self._s.window_starts_with == notice.message_id:
            self._s.window_starts_with = None
            if self._s.state == CaseState.REFUSED and self._s.appeal_window is None:
                received_on = deadlines.brussels_day(sent.sent_at)
                window = deadlines.appeal_window(received_on)
                await self._record(
                    f"{notice.step}-notified",
                    "application.refusal.notified",
                    SYSTEM_ACTOR,
                    self._s.state,
                    self._s.state,
                    deadlines=[window],
                    details={"message_id": notice.message_id, "sent_at": sent.sent_at.isoformat()},
                )
                self._s.appeal_window = window
        self._changed()

    @workflow.signal
    def retry_notice(self, message_id: str) -> None:
        """Ops resent a notice the mail server had refused (`python -m starter mail resend`)."""
        self._resend.add(message_id)

    def _log(self, step: str, actor: Actor, event: str) -> None:
        entry = StepLog(step=step, at=workflow.now(), by=actor.subject, event=event)
        self._s.history = [*self._s.history, entry][-HISTORY_KEPT:]

    def _end(self, reason: EndReason) -> None:
        self._s.state = CaseState.ENDED
        self._s.end_reason = reason
        self._s.appeal_window = None
        self._changed()

    def _changed(self) -> None:
        self._version += 1
        self._publish()

    # ------------------------------------------------------------------ ops view

    def _publish(self) -> None:
        """Search attributes, next step and Markdown details for the Web UI."""
        self._s.waiting_for, self._s.next_step = case_view.who_and_what(self._s)
        updates = case_view.search_attributes(self._s)
        if workflow.patched("publish-changed-search-attributes"):
            # Each upsert is a history event and a visibility write: send only what changed
            # (a carried run starts with its predecessor's attributes).
            current = workflow.info().typed_search_attributes
            updates = [u for u in updates if current.get(u.key) != u.value]
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(case_view.details_markdown(self._s))
