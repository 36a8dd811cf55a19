"""How the case records what happened and delivers its e-mails (a part of ApplicationWorkflow).

Every transition is one registry step (`registry.record_step`, keyed by dossier + step, one
transaction that also queues the step's e-mails). Each queued e-mail is then delivered by an
activity of its own (`notifications.send`), in the order queued, so a decision never waits for
SMTP; a refusal's appeal window starts when its e-mail was accepted (`_notice_sent`).
Activities are referenced by name with the contracts' types: no activity module is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import rules.case_view as case_view
    import rules.deadlines as deadlines
    from models.application import TrainingApplication
    from models.case import (
        Appeal,
        CaseState,
        CaseStatus,
        Deadline,
        Decision,
        EndReason,
        Hearing,
        PendingNotice,
        ScreeningOutcome,
        StepLog,
    )
    from models.case_row import CaseRow
    from models.errors import Refusal
    from models.identity import SYSTEM_ACTOR, Actor
    from models.steps import (
        NoticeSent,
        NotificationKind,
        NotificationRequest,
        Recipient,
        RegistrationEnd,
        SendNoticeInput,
        StepInput,
        StepResult,
    )
    from rules.guards import REFUSAL_FINAL_AFTER_DAYS, CaseRefused
    from rules.notices import message_id

RECORD_STEP = "registry.record_step"
SEND_NOTICE = "notifications.send"
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
# What a step changes in the case, applied once the registry recorded it. Pure: it runs on a
# copy first, to compute the registry's current-state row from the case as it will be, so
# it must not call workflow APIs (no patched(), no commands).
Apply = Callable[[CaseStatus], None]


def ended(s: CaseStatus, reason: EndReason) -> None:
    """The case has ended (a step's `apply`); the caller publishes it (`_changed`)."""
    s.state = CaseState.ENDED
    s.end_reason = reason
    s.appeal_window = None


@contextlib.contextmanager
def checked() -> Iterator[None]:
    """A rule's refusal (rules.guards) as the update's failure: non-retryable, typed, with
    the offending field for the API and the rule's Dutch sentence for the pages
    (starter.client._refusal reads both)."""
    try:
        yield
    except CaseRefused as refused:
        detail = {"field": refused.field, "nl": refused.nl}
        raise ApplicationError(
            refused.message, detail, type=refused.refusal, non_retryable=True
        ) from None


class CaseRecording:
    """The case's state and how it is recorded, published and told by e-mail."""

    _app: TrainingApplication
    _s: CaseStatus
    _lock: asyncio.Lock
    _version: int
    _deliveries: set[asyncio.Task[None]]
    _resend: set[str]

    # ---------------------------------------------------------------- recording

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

    async def _record(
        self,
        step: str,
        event: str,
        actor: Actor,
        before: CaseState | None,
        after: CaseState,
        *,
        apply: Apply | None = None,
        then: Apply | None = None,
        local: bool = False,
        late_submission_warning: bool | None = None,
        decision: Decision | None = None,
        appeal: Appeal | None = None,
        hearing: Hearing | None = None,
        appeal_number: int | None = None,
        screening: ScreeningOutcome | None = None,
        open_registration: date | None = None,
        close_registration: RegistrationEnd | None = None,
        removal_on: date | None = None,
        cancel_removal: bool = False,
        deadlines: Sequence[Deadline] = (),
        notifications: Sequence[NotificationRequest] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        apart = bool(notifications) and self._notices_apart(step)
        at = workflow.now()
        queued = [self._pending(request, step) for request in notifications] if apart else []
        step_input = StepInput(
            dossier=self._s.dossier,
            step=step,
            at=at,
            actor=actor,
            event=event,
            state_before=before.value if before else None,
            state_after=after.value,
            competent_body=self._s.competent_body,
            late_submission_warning=late_submission_warning,
            decision=decision,
            appeal=appeal,
            hearing=hearing,
            appeal_number=appeal_number,
            screening=screening,
            open_registration=open_registration,
            close_registration=close_registration,
            removal_on=removal_on,
            cancel_removal=cancel_removal,
            deadlines=list(deadlines),
            notifications=list(notifications),
            details=details or {},
            notices_apart=apart,
            row=self._row_after(step, at, actor, event, queued, apply, then),
        )
        summary = f"{self._s.dossier}: {event}"
        if local and workflow.patched("local-registry-steps"):
            # A person waits for this step (submission, a decision): one short transaction
            # on the worker's own pool, run as a local activity inside the workflow task,
            # which halves the case's round trips to the server. A long outage still backs
            # off on durable timers past the local threshold. Steps nobody waits for (timers,
            # screening) stay ordinary activities, visible as such in the Web UI.
            await workflow.execute_local_activity(
                RECORD_STEP,
                step_input,
                result_type=StepResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                local_retry_threshold=timedelta(seconds=30),
                summary=summary,
            )
        else:
            await workflow.execute_activity(
                RECORD_STEP,
                step_input,
                result_type=StepResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                summary=summary,
            )
        self._log(step, actor, event)
        for notice in queued:
            self._start_delivery(notice)
        if apply is not None:
            apply(self._s)

    def _pending(self, request: NotificationRequest, step: str) -> PendingNotice:
        return PendingNotice(
            message_id=self._message_id(request, step), kind=request.kind.value, step=step
        )

    def _row_after(
        self,
        step: str,
        at: datetime,
        actor: Actor,
        event: str,
        queued: Sequence[PendingNotice],
        apply: Apply | None,
        then: Apply | None,
    ) -> CaseRow:
        """The registry's row for the case as it will be once this step is recorded: the
        same changes, on a copy, as `_record` then makes to the case itself (`apply`), and
        those its caller makes right after behind a patch (`then`: a patch is decided where
        it always was, after the step, so its marker keeps its place in the history)."""
        after = self._s.model_copy(deep=True)
        after.history = [*after.history, StepLog(step=step, at=at, by=actor.subject, event=event)][
            -HISTORY_KEPT:
        ]
        after.pending_notices = [*after.pending_notices, *queued]
        for change in (apply, then):
            if change is not None:
                change(after)
        return case_view.case_row(after, step=step, at=at)

    def _log(self, step: str, actor: Actor, event: str) -> None:
        entry = StepLog(step=step, at=workflow.now(), by=actor.subject, event=event)
        self._s.history = [*self._s.history, entry][-HISTORY_KEPT:]

    def _changed(self) -> None:
        self._version += 1
        self._publish()

    def _publish(self) -> None:
        """Search attributes, next step and Markdown details for the Web UI."""
        self._s.waiting_for, self._s.next_step = case_view.who_and_what(self._s)
        # The worklists' attributes (OdbWaitingSince, ...) are new upserts: a run recorded
        # before them replays without.
        updates = case_view.search_attributes(
            self._s, worklists=workflow.patched("publish-worklist-attributes")
        )
        if workflow.patched("publish-changed-search-attributes"):
            # Each upsert is a history event and a visibility write: send only what changed
            # (a carried run starts with its predecessor's attributes).
            current = workflow.info().typed_search_attributes
            updates = [u for u in updates if current.get(u.key) != u.value]
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(case_view.details_markdown(self._s))

    # ---------------------------------------------------------------- notices

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
                    SEND_NOTICE,
                    SendNoticeInput(message_id=notice.message_id),
                    result_type=NoticeSent,
                    start_to_close_timeout=timedelta(minutes=2),
                    # A worker killed mid-send is noticed after this (it heartbeats every 2 s),
                    # not after two minutes.
                    heartbeat_timeout=timedelta(seconds=5),
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
        # The window is set before the notice leaves the pending list and the case stops
        # saying "notice not yet sent": a query or a validator in between never sees a
        # refusal with neither.
        if self._s.window_starts_with == notice.message_id:
            if self._s.state == CaseState.REFUSED and self._s.appeal_window is None:
                received_on = deadlines.brussels_day(sent.sent_at)
                window = deadlines.appeal_window(received_on)
                notified = notice.message_id

                def window_opens(s: CaseStatus) -> None:
                    s.appeal_window = window

                def then(s: CaseStatus) -> None:  # what follows below, patched for new runs
                    s.refusal_final_after_days = REFUSAL_FINAL_AFTER_DAYS
                    s.window_starts_with = None
                    s.pending_notices = [n for n in s.pending_notices if n.message_id != notified]

                await self._record(
                    f"{notice.step}-notified",
                    "application.refusal.notified",
                    SYSTEM_ACTOR,
                    self._s.state,
                    self._s.state,
                    apply=window_opens,
                    then=then,
                    deadlines=[window],
                    details={"message_id": notice.message_id, "sent_at": sent.sent_at.isoformat()},
                )
                if workflow.patched("refusal-final-grace"):
                    self._s.refusal_final_after_days = REFUSAL_FINAL_AFTER_DAYS
            self._s.window_starts_with = None
        self._s.pending_notices = [
            n for n in self._s.pending_notices if n.message_id != notice.message_id
        ]
        self._changed()
