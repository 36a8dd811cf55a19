"""What the registry answers: read models of its queries (no I/O here)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True)


class RegistrationPeriod(_Read):
    starts_on: date
    ends_on: date | None = None  # last registered day, inclusive; None: still registered
    end_reason: str | None = None


class RegisteredTraining(_Read):
    """One line of the open data: a training registered on a given day."""

    dossier: str
    provider: str
    provider_name: str
    title: str
    competent_body: str
    registered_from: date
    registered_until: date | None = None  # known last day (end or planned removal)


class AuditEntry(_Read):
    step: str
    at: datetime
    actor: str
    event: str
    state_before: str | None
    state_after: str
    details: dict[str, Any] = Field(default_factory=dict)


class DecisionRecord(_Read):
    step: str
    kind: str
    outcome: str
    reason: str
    decided_at: datetime
    decided_by: str
    body: str | None = None


class HearingRecord(_Read):
    side: str
    waived: bool
    held_on: date
    note: str
    recorded_by: str


class AppealRecord(_Read):
    number: int
    subject: str
    filed_at: datetime
    filed_by: str
    motivation: str
    decision_last_day: date
    overdue: bool
    hearings: list[HearingRecord] = Field(default_factory=list)


class ScreeningRecord(_Read):
    year: int
    passed: bool
    score: float | None
    rubric_version: str
    criteria: dict[str, Any] = Field(default_factory=dict)
    remarks: str
    # None: the run wrote the result and its notice is not sent yet (the day is the notice's).
    notified_on: date | None = None


class DeadlineRecord(_Read):
    kind: str
    starts_on: date
    last_day: date
    due_at: datetime
    rule: str
    shifts: list[str] = Field(default_factory=list)


class NotificationRecord(_Read):
    kind: str
    recipient: str
    to_address: str
    subject: str
    message_id: str
    status: str  # pending, sending, sent, failed (uncertain: left by earlier code)
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    dossier: str | None = None
    step: str | None = None


class DossierSummary(_Read):
    dossier: str
    provider: str
    title: str
    competent_body: str
    state: str
    submitted_at: datetime
    predecessor_dossier: str | None = None


class DossierRecord(_Read):
    """A dossier's full record: the application, everything decided, the whole audit trail."""

    summary: DossierSummary
    application: dict[str, Any]
    late_submission_warning: bool
    removal_on: date | None
    registrations: list[RegistrationPeriod]
    decisions: list[DecisionRecord]
    appeals: list[AppealRecord]
    screenings: list[ScreeningRecord]
    deadlines: list[DeadlineRecord]
    notifications: list[NotificationRecord]
    audit: list[AuditEntry]
