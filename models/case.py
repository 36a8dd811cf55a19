"""The case: its states, deadlines, decisions and the snapshot the portal reads."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from models.application import TrainingApplication
from models.identity import Actor
from models.text import Day, Text


class CaseState(StrEnum):
    UNDER_REVIEW = "under_review"  # waiting for a reviewer of the competent body
    REFUSED = "refused"  # refused; the 30-day appeal window is open
    IN_APPEAL = "in_appeal"  # an appeal against the refusal is at the BEC
    REGISTERED = "registered"
    REMOVAL_SCHEDULED = "removal_scheduled"  # registered, negative screening: leaves on 31/12
    ENDED = "ended"


class EndReason(StrEnum):
    WITHDRAWN = "withdrawn"  # by the provider, before a decision
    FINALLY_REFUSED = "finally_refused"  # appeal window lapsed unused
    APPEAL_REJECTED = "appeal_rejected"  # the BEC upheld the refusal
    STOPPED = "stopped"  # by the provider
    REVOKED = "revoked"  # by the department
    REMOVED = "removed"  # after a negative screening
    REPLACED = "replaced"  # a resubmitted training took over its registration


class DeadlineKind(StrEnum):
    APPEAL_WINDOW = "appeal_window"  # 30 days to appeal a refusal or a negative screening
    BEC_DECISION = "bec_decision"  # 60 days for the BEC to decide an appeal
    REMOVAL = "removal"  # 31 December of the year after a negative screening


class Deadline(BaseModel):
    """A deadline, kept with how it was computed so it can be explained and corrected."""

    model_config = ConfigDict(frozen=True)

    kind: DeadlineKind
    # The day the period starts from (receipt of the decision, of the appeal, of the notice).
    starts_on: date
    # The last day on which the act is still in time (after shifts).
    last_day: date
    # The instant the deadline passes: end of last_day, Europe/Brussels, as UTC.
    due_at: datetime
    rule: str
    # Each shift applied, in words, e.g. "2027-03-13 is a Saturday: moved to 2027-03-15".
    shifts: tuple[str, ...] = ()


class AppealSubject(StrEnum):
    REFUSAL = "refusal"
    SCREENING = "screening"


class HearingSide(StrEnum):
    PROVIDER = "provider"
    DEPARTMENT = "department"


class Hearing(BaseModel):
    model_config = ConfigDict(frozen=True)

    side: HearingSide
    waived: bool = False
    held_on: date
    note: str = ""
    recorded_by: str


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str  # review, appeal, revocation
    outcome: str  # approved, refused, granted, rejected, revoked
    reason: str = ""
    decided_at: datetime
    decided_by: str
    body: str | None = None


class Appeal(BaseModel):
    number: int  # 1, 2, ... within the dossier
    subject: AppealSubject
    filed_at: datetime
    filed_by: str
    motivation: str
    deadline: Deadline  # the BEC's 60-day decision deadline
    hearings: list[Hearing] = Field(default_factory=list)
    overdue: bool = False
    decision: Decision | None = None
    # portal: filed by the provider; email: registered by the BEC secretariat on the
    # provider's behalf, with the moment the e-mail was received.
    route: Literal["portal", "email"] = "portal"
    received_at: datetime | None = None
    document_id: str | None = None

    def heard(self, side: HearingSide) -> bool:
        return any(h.side == side for h in self.hearings)


class ScreeningOutcome(BaseModel):
    """Sent by the yearly screening to a case (signal)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int
    passed: bool
    # passed/failed/incomplete as the run judged it (models.screening.Outcome). None (an
    # outcome sent before this field existed): the registry derives it from passed/score.
    outcome: Literal["passed", "failed", "incomplete"] | None = None
    score: float | None = None
    rubric_version: str
    # Why, for an incomplete or negative result (criteria that failed, missing data).
    remarks: str = ""
    # The day the provider was notified (e-mail sent): the appeal window starts from it.
    notified_on: date
    result_id: str = ""
    # The case starts a fresh run (continue-as-new) at a random moment within this many days
    # after handling the outcome, so screening every case is not also a burst of new runs.
    # 0 (outcomes sent before this field existed): at once.
    continue_as_new_within_days: int = Field(default=0, ge=0)


class PendingNotice(BaseModel):
    """An e-mail the case queued and is delivering (an activity of its own per notice)."""

    message_id: str
    kind: str
    step: str
    # Why the mail server refused it for good; ops resend it once the cause is fixed.
    rejected: str = ""


class StepLog(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: str
    at: datetime
    by: str
    event: str


class CaseStatus(BaseModel):
    """The whole case as the portal and ops see it; also what continue-as-new carries."""

    dossier: str
    title: str
    provider: str
    competent_body: str
    state: CaseState
    end_reason: EndReason | None = None
    submitted_at: datetime
    late_submission_warning: bool = False
    registered_from: date | None = None
    # Last registered day, once known (end, or planned removal).
    registered_until: date | None = None
    decisions: list[Decision] = Field(default_factory=list)
    appeals: list[Appeal] = Field(default_factory=list)
    appeal_window: Deadline | None = None
    appeal_window_subject: AppealSubject | None = None
    # The last appeal window that lapsed unused (kept to explain a late appeal).
    lapsed_window: Deadline | None = None
    removal: Deadline | None = None
    screenings: list[ScreeningOutcome] = Field(default_factory=list)
    # Most recent steps (the full trail is in the registry's audit table).
    history: list[StepLog] = Field(default_factory=list)
    next_step: str = ""
    waiting_for: str = ""  # reviewer, provider, bec, department, nobody
    runs: int = 1  # how many workflow runs (continue-as-new) this case has had
    # E-mails queued and not yet accepted by the mail server.
    pending_notices: list[PendingNotice] = Field(default_factory=list)
    # The Message-ID of the decision notice whose sending starts the appeal window (a
    # refusal decided, its e-mail not yet sent): no window runs until it goes out.
    window_starts_with: str | None = None
    # A resubmission names the registration it replaces; that one names its successor.
    predecessor: str | None = None
    replaced_by: str | None = None
    # A refusal becomes final this many days after its window closed (room to register an
    # appeal e-mailed in time); 0 for cases refused before appeals by e-mail existed.
    refusal_final_after_days: int = 0

    @property
    def open_appeal(self) -> Appeal | None:
        return next((a for a in self.appeals if a.decision is None), None)


class CaseInput(BaseModel):
    """Input of the application workflow. `carried` is set when the case continues as new."""

    model_config = ConfigDict(extra="forbid")

    dossier: str
    application: TrainingApplication
    submitted_at: datetime
    carried: CaseStatus | None = None


# ---- human decisions (updates); each carries the acting user as verified by the caller ----


class _ActorInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    actor: Actor


# Free text a person writes (reasons, notes): NUL-free, trimmed (models/text.py).
Note = Annotated[str, Text(5000)]


class ReviewDecisionInput(_ActorInput):
    approve: StrictBool
    reason: Note = ""


class AppealInput(_ActorInput):
    motivation: Annotated[str, Text(20000)]
    # The portal's reference to the motivated document, if uploaded separately.
    document_reference: Annotated[str, Text(500)] | None = None
    # The motivation document uploaded with POST /documents.
    document_id: Annotated[str, Text(100)] | None = None


class RegisterAppealInput(_ActorInput):
    """The BEC secretariat registers an appeal that arrived by e-mail, on the provider's
    behalf, with the moment the e-mail was received: the window and the BEC's 60 days are
    judged from it."""

    received_at: AwareDatetime
    motivation: Annotated[str, Text(20000)]
    document_id: Annotated[str, Text(100)] | None = None


class ReplacedInput(BaseModel):
    """Signal to a registered case: a resubmission of its training is now registered."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    successor: str
    last_day: date  # this registration's last day: the day before the successor's first


class HearingInput(_ActorInput):
    side: HearingSide
    waived: StrictBool = False
    held_on: Day | None = None  # default: today
    note: Note = ""


class BecDecisionInput(_ActorInput):
    granted: StrictBool
    reason: Note = ""


class StopInput(_ActorInput):
    reason: Note = ""


class RevokeInput(_ActorInput):
    reason: Note


class WithdrawInput(_ActorInput):
    reason: Note = ""


class CorrectReceiptInput(_ActorInput):
    """Department staff corrects the day a decision (or an appeal) was received."""

    deadline: DeadlineKind
    received_on: Day
    reason: Note
