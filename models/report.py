"""The department's figures: one calendar year (Europe/Brussels) per competent body.

Each figure's meaning is its field's description, written once here; the SQL that counts it
is in registry/reports.py, the table in docs/reports.md repeats these sentences (a test
keeps them equal). No figure names a person or an organisation: the report is open data.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

ALL_BODIES = "all"


class BodyFigures(BaseModel):
    """The figures of one competent body (VOC, a PC) in one year, or of all of them."""

    model_config = ConfigDict(frozen=True)

    body: str = Field(description="The competent body (VOC or a PC), or `all` for the total.")
    received: int = Field(description="Applications submitted in the year, resubmissions included.")
    decisions: int = Field(description="Review decisions taken in the year (approved + refused).")
    approved: int = Field(description="Review decisions in the year that approved.")
    refused: int = Field(description="Review decisions in the year that refused.")
    decision_days_median: int | None = Field(
        description="Median of the calendar days from submission to review decision, over the "
        "year's decisions (the lower middle value; none without decisions)."
    )
    decision_days_p90: int | None = Field(
        description="90th percentile of those days: the smallest value at or above 90% of them."
    )
    decision_days_max: int | None = Field(description="The longest of those days.")
    decided_within_norm: int = Field(
        description="The year's review decisions taken at most the review service norm's "
        "days after submission."
    )
    within_norm_share: float | None = Field(
        description="decided_within_norm / decisions, rounded to 3 decimals."
    )
    appeals_received: int = Field(
        description="Appeals the BEC received in the year (the e-mail's arrival or the portal "
        "filing), against a refusal or a negative screening."
    )
    appeals_against_refusal: int = Field(description="Of those, appeals against a refusal.")
    appeals_against_screening: int = Field(
        description="Of those, appeals against a negative screening."
    )
    appeals_granted: int = Field(description="BEC decisions in the year that granted the appeal.")
    appeals_rejected: int = Field(description="BEC decisions in the year that rejected the appeal.")
    appeals_overdue: int = Field(
        description="Appeals whose 60-day BEC deadline fell in the year and passed without a "
        "decision (flagged overdue)."
    )
    bec_days_median: int | None = Field(
        description="Median of the calendar days from the appeal's receipt to the BEC's "
        "decision, over the year's BEC decisions."
    )
    bec_days_p90: int | None = Field(description="90th percentile of those days.")
    screened: int = Field(description="Trainings judged by the yearly screening of the year.")
    screening_passed: int = Field(description="Of those, judged positive.")
    screening_failed: int = Field(description="Of those, judged negative on the rubric.")
    screening_incomplete: int = Field(
        description="Of those, negative because the data were incomplete."
    )
    removals: int = Field(
        description="Registrations ended by removal after a negative screening whose last "
        "registered day fell in the year."
    )
    resubmissions: int = Field(
        description="Applications submitted in the year that name a predecessor dossier."
    )
    resubmitted_after_refusal: int = Field(
        description="Of those, whose predecessor was refused (and never passed a screening)."
    )
    resubmitted_after_screening: int = Field(
        description="Of those, whose predecessor had a negative screening."
    )
    resubmissions_approved: int = Field(
        description="Of the year's resubmissions, approved by now (at review or on appeal)."
    )
    resubmissions_refused: int = Field(
        description="Of the year's resubmissions, refused at review by now."
    )
    resubmissions_withdrawn: int = Field(
        description="Of the year's resubmissions, withdrawn before a decision by now."
    )
    resubmissions_open: int = Field(
        description="Of the year's resubmissions, still waiting for their review decision."
    )
    withdrawals: int = Field(description="Applications withdrawn by their provider in the year.")
    stops: int = Field(description="Registrations stopped by their provider in the year.")
    revocations: int = Field(description="Registrations revoked by the department in the year.")
    refusals_final: int = Field(
        description="Refusals that became final because their appeal window lapsed unused, "
        "counted in the year the window closed."
    )
    registered_first_day: int = Field(description="Trainings registered on 1 January of the year.")
    registered_last_day: int = Field(
        description="Trainings registered on the report's last day (31 December, or the "
        "last day so far)."
    )
    notices_sent: int = Field(description="E-mails sent in the year (the mail server took them).")
    notices_sent_late: int = Field(
        description="Of those, sent more than an hour after the step that queued them (the "
        "mail server was away)."
    )


class DaysBucket(BaseModel):
    """How many of the year's review decisions took from `from_day` to `to_day` days."""

    model_config = ConfigDict(frozen=True)

    from_day: int
    to_day: int | None = Field(description="Inclusive; None: this many days or more.")
    decisions: int
    within_norm: bool = Field(description="Every day of the bucket is within the norm.")


class YearReport(BaseModel):
    """One year's figures, per body and in total, from one consistent snapshot."""

    model_config = ConfigDict(frozen=True)

    year: int
    complete: bool = Field(description="False while the year is not over.")
    first_day: date
    last_day: date = Field(description="31 December, or the last day counted so far.")
    period: str = Field(
        description="The period in words: `2027`, or `2027, so far, until 2027-06-30`."
    )
    service_norm_days: int
    computed_at: datetime
    bodies: list[BodyFigures] = Field(description="`all` first, then each body by name.")
    decision_days: list[DaysBucket] = Field(
        default_factory=list,
        description="The year's review decisions by days from submission (all bodies), in "
        "buckets whose bounds include the norm's: each bucket is within it or beyond it.",
    )

    def of(self, body: str) -> BodyFigures | None:
        return next((b for b in self.bodies if b.body == body), None)


FIGURES: list[str] = [name for name in BodyFigures.model_fields if name != "body"]
CSV_COLUMNS: list[str] = ["year", "complete", "last_day", *BodyFigures.model_fields]


def meaning(figure: str) -> str:
    return BodyFigures.model_fields[figure].description or ""
