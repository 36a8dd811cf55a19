"""What the case workflow asks the registry to record: one step, one transaction.

A step is keyed by (dossier, step): the registry writes it once, however often the
activity is retried, and sends the step's e-mails at most once each.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.case import Appeal, Deadline, Decision, EndReason, Hearing, ScreeningOutcome
from models.case_row import CaseRow
from models.identity import Actor


class NotificationKind(StrEnum):
    ACKNOWLEDGMENT = "acknowledgment"  # ontvangstbevestiging
    APPROVAL = "approval"
    REFUSAL = "refusal"
    WITHDRAWAL = "withdrawal"
    APPEAL_RECEIVED = "appeal_received"
    BEC_DECISION = "bec_decision"
    BEC_OVERDUE = "bec_overdue"  # alert to the BEC secretariat and the department
    SCREENING_RESULT = "screening_result"
    REMOVAL = "removal"  # the training left the registry
    STOP_CONFIRMATION = "stop_confirmation"
    REVOCATION = "revocation"
    FINAL_REFUSAL = "final_refusal"  # appeal window lapsed
    DEADLINE_CORRECTED = "deadline_corrected"  # the department corrected a receipt date
    # A notice's dates ran from a day before SMTP accepted it: the dates the case keeps.
    NOTICE_CORRECTED = "notice_corrected"


class Recipient(StrEnum):
    PROVIDER = "provider"  # the application's contact e-mail
    BEC = "bec"  # settings.notifications.bec_address
    DEPARTMENT = "department"  # settings.notifications.department_address


class NotificationRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NotificationKind
    to: Recipient
    # Values the Dutch template needs; dates as ISO strings (the template formats them).
    context: dict[str, Any] = Field(default_factory=dict)


class RegistrationEnd(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    last_day: date  # the last day the training is registered (inclusive)
    reason: EndReason


class StepInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dossier: str
    # Unique within the dossier: "submitted", "review", "appeal-1", "hearing-1-provider", ...
    step: str
    at: datetime
    actor: Actor
    # Dotted verb for the audit trail and logs, e.g. "application.appeal.filed".
    event: str
    state_before: str | None
    state_after: str
    competent_body: str | None = None
    late_submission_warning: bool | None = None
    decision: Decision | None = None
    appeal: Appeal | None = None
    hearing: Hearing | None = None
    appeal_number: int | None = None
    screening: ScreeningOutcome | None = None
    # A registration period starts on this day (approval, granted appeal).
    open_registration: date | None = None
    # The open registration period ends (stop, revocation, removal).
    close_registration: RegistrationEnd | None = None
    # A planned removal is set (negative screening) or cancelled (granted appeal: None + flag).
    removal_on: date | None = None
    cancel_removal: bool = False
    deadlines: list[Deadline] = Field(default_factory=list)
    notifications: list[NotificationRequest] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    # True: the case delivers each queued notice itself (`notifications.send`), so recording
    # the step never talks to SMTP. False: steps queued by code before that change, whose
    # notices this activity still delivers itself.
    notices_apart: bool = False
    # The case's current-state row after this step, written in its transaction (None: a
    # step queued by code from before the registry kept such rows).
    row: CaseRow | None = None


class StepResult(BaseModel):
    # False when the step had been recorded before (a retry or a replayed portal request).
    recorded: bool
    # Message-IDs of this step's e-mails that are now sent.
    sent: list[str] = Field(default_factory=list)


class SendNoticeInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str


class NoticeSent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    # When the SMTP server accepted it (the Temporal server's clock): receipt of the notice.
    sent_at: datetime
