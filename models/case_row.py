"""The case's current state as the registry keeps it (`case_rows`, migration 0700): what the
portal and the worklists read, written in the transaction of every step that changes it.
Computed from the case's status by `rules.case_view.case_row` (no I/O here)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from models.case import CaseStatus


class CaseRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dossier: str
    provider: str
    competent_body: str
    title: str
    state: str
    end_reason: str | None = None
    # Who must act (reviewer, provider, bec, department, nobody) and what, in words.
    waiting_for: str
    next_step: str
    # Since when that party waits (the worklists' "oldest first").
    waiting_since: datetime | None = None
    # The nearest open deadline: its kind, last day and the instant it passes.
    next_deadline_kind: str | None = None
    next_deadline_on: date | None = None
    next_deadline_at: datetime | None = None
    # When the case's own timer fires for it (rules.case_view.wakes_at): stuck an hour later.
    wakes_at: datetime | None = None
    # An open appeal: its BEC deadline, whether it is overdue, the hearings still missing.
    open_appeal: bool = False
    bec_due_on: date | None = None
    overdue: bool = False
    missing_hearings: str = ""
    appeal_without_document: bool = False
    removal_on: date | None = None
    submitted_at: datetime
    # The step this row is as of, and when it was recorded.
    last_step: str
    last_step_at: datetime
    # The whole case as its workflow holds it after that step (what GET /dossiers/{d} shows).
    status: CaseStatus


class DossierView(CaseStatus):
    """A dossier as the portal reads it: the registry's row, with what changes between steps
    (e-mails going out, screening results, the audit trail) read as it stands now."""

    as_of_step: str = Field(description="the last step recorded: the case as of that step")
    as_of: datetime = Field(description="when that step was recorded")


class DossierListItem(BaseModel):
    """One dossier in an organisation's list: where it stands, who acts, what is due."""

    model_config = ConfigDict(frozen=True)

    dossier: str
    title: str
    competent_body: str
    state: str
    end_reason: str | None = None
    waiting_for: str
    next_step: str
    next_deadline_kind: str | None = None
    next_deadline_on: date | None = None
    submitted_at: datetime
    last_step: str
    last_step_at: datetime


class DossierPage(BaseModel):
    """A page of an organisation's dossiers, newest first."""

    count: int = Field(description="how many dossiers the list holds in all (with its filter)")
    items: list[DossierListItem]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
