"""What each decision and each screening outcome changes in the case (a part of
ApplicationWorkflow): the handlers in workflows/application.py check the rule
(rules.guards), then call these to record the step and apply it to the case's state."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import rules.deadlines as deadlines
    from models.case import (
        Appeal,
        AppealInput,
        AppealSubject,
        BecDecisionInput,
        CaseState,
        CaseStatus,
        CorrectReceiptInput,
        Deadline,
        DeadlineKind,
        Decision,
        EndReason,
        Hearing,
        HearingInput,
        RegisterAppealInput,
        ReplacedInput,
        ReviewDecisionInput,
        RevokeInput,
        ScreeningOutcome,
        StopInput,
        WithdrawInput,
    )
    from models.identity import SYSTEM_ACTOR, Actor
    from models.steps import NotificationKind, RegistrationEnd
    from rules.guards import REGISTERED_STATES

from workflows.case_recording import ended
from workflows.case_timers import CaseTimers

SCREENINGS_KEPT = 5


class CaseDecisions(CaseTimers):
    _cycle_done: bool

    def _decided(self, kind: str, outcome: str, reason: str, actor: Actor, body: str) -> Decision:
        """A decision taken now, as the registry and the portal keep it."""
        return Decision(
            kind=kind,
            outcome=outcome,
            reason=reason.strip(),
            decided_at=workflow.now(),
            decided_by=actor.subject,
            body=body,
        )

    async def _review_decision(self, inp: ReviewDecisionInput) -> CaseStatus:
        outcome = "approved" if inp.approve else "refused"
        decision = self._decided("review", outcome, inp.reason, inp.actor, self._s.competent_body)
        today = deadlines.brussels_day(decision.decided_at)
        apart = self._notices_apart("review")

        def approved(s: CaseStatus) -> None:
            s.registered_from = today
            s.state = CaseState.REGISTERED
            s.decisions.append(decision)

        def refused(s: CaseStatus) -> None:
            s.appeal_window_subject = AppealSubject.REFUSAL
            s.state = CaseState.REFUSED
            s.decisions.append(decision)

        if inp.approve:
            await self._record(
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
                local=True,
                apply=approved,
            )
            await self._tell_predecessor(today)
        elif apart:
            # The window runs from receipt, the day the refusal e-mail goes out: it
            # starts when that notice is sent (`_notice_sent`), not now.
            refusal = self._mail(
                NotificationKind.REFUSAL, decided_on=today.isoformat(), reason=decision.reason
            )
            starts_with = self._message_id(refusal, "review")

            def refused_apart(s: CaseStatus) -> None:
                refused(s)
                s.window_starts_with = starts_with

            await self._record(
                "review",
                "application.refused",
                inp.actor,
                self._s.state,
                CaseState.REFUSED,
                decision=decision,
                notifications=[refusal],
                local=True,
                apply=refused_apart,
            )
        else:
            # Cases decided before notices were sent apart: e-mailed at once, received
            # today.
            window = deadlines.appeal_window(today)

            def refused_at_once(s: CaseStatus) -> None:
                refused(s)
                s.appeal_window = window

            await self._record(
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
                local=True,
                apply=refused_at_once,
            )
        self._changed()
        return self._s

    async def _withdraw(self, inp: WithdrawInput) -> CaseStatus:
        today = deadlines.brussels_day(workflow.now())
        await self._record(
            "withdrawn",
            "application.withdrawn",
            inp.actor,
            self._s.state,
            CaseState.ENDED,
            details={"reason": inp.reason},
            notifications=[self._mail(NotificationKind.WITHDRAWAL, withdrawn_on=today.isoformat())],
            local=True,
            apply=lambda s: ended(s, EndReason.WITHDRAWN),
        )
        self._changed()
        return self._s

    async def _file_appeal(self, inp: AppealInput) -> CaseStatus:
        details: dict[str, Any] = {"document_reference": inp.document_reference}
        if inp.document_id is not None:
            details["document_id"] = inp.document_id
        return await self._appeal_filed(inp.actor, inp.motivation, details, inp.document_id)

    async def _register_appeal(self, inp: RegisterAppealInput) -> CaseStatus:
        details: dict[str, Any] = {"route": "email", "received_at": inp.received_at.isoformat()}
        if inp.document_id is not None:
            details["document_id"] = inp.document_id
        return await self._appeal_filed(
            inp.actor, inp.motivation, details, inp.document_id, received_at=inp.received_at
        )

    async def _appeal_filed(
        self,
        actor: Actor,
        motivation: str,
        details: dict[str, Any],
        document_id: str | None,
        *,
        received_at: datetime | None = None,
    ) -> CaseStatus:
        """An appeal, filed by the provider through the portal, or by e-mail and registered
        by the BEC with the moment it was received: its 60 days run from receipt."""
        now = workflow.now()
        today = deadlines.brussels_day(received_at or now)
        subject = self._s.appeal_window_subject or AppealSubject.REFUSAL
        number = len(self._s.appeals) + 1
        appeal = Appeal(
            number=number,
            subject=subject,
            filed_at=now,
            filed_by=actor.subject,
            motivation=motivation.strip(),
            deadline=deadlines.bec_decision_deadline(today),
            route="portal" if received_at is None else "email",
            received_at=received_at,
            document_id=document_id,
        )
        after = CaseState.IN_APPEAL if subject == AppealSubject.REFUSAL else self._s.state
        context: dict[str, object] = {
            "appeal_number": number,
            "filed_on": today.isoformat(),
            "decision_deadline": appeal.deadline.last_day.isoformat(),
            "subject": subject.value,
        }
        if document_id is not None:
            context["document_id"] = document_id

        def filed(s: CaseStatus) -> None:
            s.appeals.append(appeal.model_copy(deep=True))
            s.appeal_window = None
            s.window_starts_with = None  # appealed already: no window to start
            s.state = after

        await self._record(
            f"appeal-{number}",
            "application.appeal.filed",
            actor,
            self._s.state,
            after,
            appeal=appeal,
            appeal_number=number,
            deadlines=[appeal.deadline],
            details=details,
            notifications=[self._mail(NotificationKind.APPEAL_RECEIVED, **context)],
            local=True,
            apply=filed,
        )
        self._changed()
        return self._s

    async def _record_hearing(self, inp: HearingInput, appeal: Appeal) -> CaseStatus:
        hearing = Hearing(
            side=inp.side,
            waived=inp.waived,
            held_on=inp.held_on or deadlines.brussels_day(workflow.now()),
            note=inp.note,
            recorded_by=inp.actor.subject,
        )
        await self._record(
            f"appeal-{appeal.number}-hearing-{inp.side.value}",
            "application.appeal.hearing_waived" if inp.waived else "application.appeal.heard",
            inp.actor,
            self._s.state,
            self._s.state,
            hearing=hearing,
            appeal_number=appeal.number,
            local=True,
            apply=lambda s: s.appeals[appeal.number - 1].hearings.append(hearing),
        )
        self._changed()
        return self._s

    async def _bec_decision(self, inp: BecDecisionInput, appeal: Appeal) -> CaseStatus:
        outcome = "granted" if inp.granted else "rejected"
        decision = self._decided("appeal", outcome, inp.reason, inp.actor, "BEC")
        today = deadlines.brussels_day(decision.decided_at)
        context: dict[str, object] = {
            "granted": inp.granted,
            "reason": decision.reason,
            "decided_on": today.isoformat(),
            "subject": appeal.subject.value,
        }
        screening = appeal.subject == AppealSubject.SCREENING
        registered_from: date | None = None
        if inp.granted:
            after, event = CaseState.REGISTERED, "application.appeal.granted"
            if not screening:
                registered_from = today
                context["registered_from"] = today.isoformat()
        else:
            after = CaseState.REMOVAL_SCHEDULED if screening else CaseState.ENDED
            event = "application.appeal.rejected"
            if screening and self._s.removal is not None:
                context["removal_on"] = self._s.removal.last_day.isoformat()
        def decided(s: CaseStatus) -> None:
            s.appeals[appeal.number - 1].decision = decision
            s.decisions.append(decision)
            if inp.granted and screening:
                s.removal = None
                s.registered_until = None
                s.state = CaseState.REGISTERED
            elif inp.granted:
                s.registered_from = today
                s.state = CaseState.REGISTERED
            elif not screening:
                ended(s, EndReason.APPEAL_REJECTED)

        await self._record(
            f"appeal-{appeal.number}-decision",
            event,
            inp.actor,
            self._s.state,
            after,
            local=True,
            decision=decision,
            appeal_number=appeal.number,
            notifications=[self._mail(NotificationKind.BEC_DECISION, **context)],
            # A granted appeal against a negative screening cancels the removal; one
            # against a refusal registers the training from today.
            cancel_removal=inp.granted and screening,
            open_registration=registered_from,
            apply=decided,
        )
        if inp.granted and not screening:
            await self._tell_predecessor(today)
        elif not inp.granted and not screening:
            self._changed()  # the case ended: published as it always was, then again below
        self._changed()
        return self._s

    async def _stop(self, inp: StopInput) -> CaseStatus:
        await self._end_registration(
            "stop",
            "application.stopped",
            inp.actor,
            EndReason.STOPPED,
            NotificationKind.STOP_CONFIRMATION,
            inp.reason,
        )
        return self._s

    async def _revoke(self, inp: RevokeInput) -> CaseStatus:
        await self._end_registration(
            "revoke",
            "application.revoked",
            inp.actor,
            EndReason.REVOKED,
            NotificationKind.REVOCATION,
            inp.reason.strip(),
        )
        return self._s

    async def _correct_receipt_date(self, inp: CorrectReceiptInput) -> CaseStatus:
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
        def corrected(s: CaseStatus) -> None:
            if inp.deadline == DeadlineKind.APPEAL_WINDOW:
                s.appeal_window = window
                # The department fixed the receipt: the notice no longer starts the window.
                s.window_starts_with = None
                if removal is not None:
                    s.removal = removal
                    s.registered_until = removal.last_day
            else:
                appeal = s.open_appeal
                assert appeal is not None
                appeal.deadline = window
                appeal.overdue = appeal.overdue and workflow.now() >= window.due_at

        await self._record(
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
            local=True,
            apply=corrected,
        )
        self._changed()
        return self._s

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

        def registration_ended(s: CaseStatus) -> None:
            s.registered_until = last_day
            ended(s, reason)

        await self._record(
            step,
            event,
            actor,
            self._s.state,
            CaseState.ENDED,
            close_registration=RegistrationEnd(last_day=last_day, reason=reason),
            details={"reason": why},
            notifications=[self._mail(kind, **context)],
            local=True,
            apply=registration_ended,
        )
        self._changed()

    async def _screened(self, outcome: ScreeningOutcome) -> None:
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

        def screened(s: CaseStatus) -> None:
            s.screenings = [*s.screenings, outcome][-SCREENINGS_KEPT:]

        if not outcome.passed and self._s.state == CaseState.REGISTERED:
            window = deadlines.appeal_window(outcome.notified_on)
            removal = deadlines.removal_after_negative_screening(outcome.notified_on)

            def removal_scheduled(s: CaseStatus) -> None:
                s.appeal_window = window
                s.appeal_window_subject = AppealSubject.SCREENING
                s.lapsed_window = None
                s.removal = removal
                s.registered_until = removal.last_day
                s.state = CaseState.REMOVAL_SCHEDULED
                screened(s)

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
                apply=removal_scheduled,
            )
        else:
            screened(self._s)
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

    async def _tell_predecessor(self, starts_on: date) -> None:
        """A resubmission now registered: the registration it replaces ended the day before
        (the registry closed it in this step's transaction); its case records that too."""
        predecessor = self._s.predecessor
        if predecessor is None or not workflow.patched("replace-predecessor"):
            return
        handle = workflow.get_external_workflow_handle(predecessor)
        last_day = starts_on - timedelta(days=1)
        try:
            await handle.signal(
                "replaced", ReplacedInput(successor=self._s.dossier, last_day=last_day)
            )
        except ApplicationError as exc:
            # Its case has ended already (stopped, removed): nothing of it to end.
            workflow.logger.info(
                "predecessor not running; not told",
                extra={"dossier": self._s.dossier, "predecessor": predecessor, "error": str(exc)},
            )

    async def _replaced(self, inp: ReplacedInput) -> None:
        if self._s.state not in REGISTERED_STATES:
            workflow.logger.warning(
                "replaced while not registered; ignored",
                extra={"dossier": self._s.dossier, "successor": inp.successor},
            )
            return
        last_day = inp.last_day
        began = self._s.registered_from
        if began is not None and last_day < began and workflow.patched("replaced-same-day"):
            # Registered and replaced on the same day: the registry keeps that one day
            # (GREATEST in registry/steps.py), never a period that ends before it starts.
            last_day = began

        def replaced(s: CaseStatus) -> None:
            s.replaced_by = inp.successor
            s.registered_until = last_day
            s.removal = None
            ended(s, EndReason.REPLACED)

        await self._record(
            "replaced",
            "application.replaced",
            SYSTEM_ACTOR,
            self._s.state,
            CaseState.ENDED,
            close_registration=RegistrationEnd(last_day=last_day, reason=EndReason.REPLACED),
            details={"replaced_by": inp.successor},
            apply=replaced,
        )
        self._changed()
