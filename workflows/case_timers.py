"""What wakes the case and what a passed deadline does (a part of ApplicationWorkflow).

The case waits on one durable timer at a time: its nearest open deadline (appeal window,
the BEC's 60 days, the removal date), or the fresh run after a screening outcome when that
comes first. When a deadline passes, the case re-checks it under its lock (an update may
have closed it meanwhile) and records what follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import rules.case_view as case_view
    import rules.deadlines as deadlines
    from models.case import Appeal, CaseState, CaseStatus, Deadline, DeadlineKind, EndReason
    from models.identity import SYSTEM_ACTOR
    from models.steps import NotificationKind, NotificationRequest, Recipient, RegistrationEnd

from workflows.case_recording import CaseRecording, ended


@dataclass(frozen=True)
class Wake:
    """When the case next wakes by itself, and why (shown as the timer's summary)."""

    at: datetime | None
    summary: str | None
    deadline: Deadline | None  # None: no deadline, or the fresh run comes first
    fresh_run: bool


class CaseTimers(CaseRecording):
    _fresh_run_at: datetime | None

    def _next_wake(self) -> Wake:
        timer = case_view.next_timer(self._s)
        fresh_run_at = self._fresh_run_at
        if fresh_run_at is not None and timer is not None and timer.due_at <= fresh_run_at:
            fresh_run_at = None  # the deadline comes first; the fresh run waits for it
        if fresh_run_at is not None:
            return Wake(fresh_run_at, case_view.FRESH_RUN_SUMMARY, timer, fresh_run=True)
        at = case_view.wakes_at(self._s)
        if timer is not None and at is not None:
            # Portal appeals close at due_at; a refusal becomes final a few days later, so an
            # appeal e-mailed in time can still be registered (rules.guards).
            return Wake(at, case_view.timer_summary(timer), timer, fresh_run=False)
        return Wake(None, None, None, fresh_run=False)

    async def _deadline_passed(self, deadline: Deadline) -> None:
        # Re-checked under the lock: an update may have closed this deadline meanwhile.
        if deadline.kind == DeadlineKind.APPEAL_WINDOW and self._s.appeal_window == deadline:
            await self._appeal_window_lapsed(deadline)
        elif deadline.kind == DeadlineKind.BEC_DECISION:
            appeal = self._s.open_appeal
            if appeal is None or appeal.overdue or appeal.deadline != deadline:
                return  # decided or corrected meanwhile: nothing changed
            await self._bec_overdue(appeal, deadline)
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
                apply=lambda s: ended(s, EndReason.REMOVED),
            )
            self._changed()
        self._changed()

    async def _appeal_window_lapsed(self, deadline: Deadline) -> None:
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
                        NotificationKind.FINAL_REFUSAL, lapsed_on=deadline.last_day.isoformat()
                    )
                ],
                apply=lambda s: ended(s, EndReason.FINALLY_REFUSED),
            )
            self._changed()
        elif workflow.patched("window-lapsed-step"):
            # Recorded, not only logged: the registry (and the portal's event feed) learns
            # that the negative screening can no longer be appealed.
            await self._record(
                f"appeal-window-lapsed-{deadline.last_day.isoformat()}",
                "application.appeal.window_lapsed",
                SYSTEM_ACTOR,
                self._s.state,
                self._s.state,
            )
        else:
            self._log("appeal-window-lapsed", SYSTEM_ACTOR, "application.appeal.window_lapsed")

    async def _bec_overdue(self, appeal: Appeal, deadline: Deadline) -> None:
        context = {
            "appeal_number": appeal.number,
            "filed_on": deadlines.brussels_day(appeal.filed_at).isoformat(),
            "decision_deadline": deadline.last_day.isoformat(),
        }

        def overdue(s: CaseStatus) -> None:
            s.appeals[appeal.number - 1].overdue = True

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
            apply=overdue,
        )
