"""Contracts of the yearly screening run: its workflow input, activity inputs and results,
progress and report. No I/O here."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# A page is one SQL statement and one activity; 500 keeps both well under a second and an
# activity's signals well within its heartbeat timeout.
DEFAULT_PAGE_SIZE = 500
# Delivery pages running at once; each signals its cases with bounded concurrency.
DEFAULT_PARALLEL_PAGES = 2
# Cases signalled at once by one delivery page.
DEFAULT_SIGNAL_CONCURRENCY = 32


def screening_workflow_id(year: int) -> str:
    """One screening per year: the id carries the year, so a second start finds the first."""
    return f"screening-{year}"


def screening_step(year: int) -> str:
    """The registry step (result row, e-mail key) of a dossier's screening in `year`."""
    return f"screening-{year}"


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"  # a measure could not be computed: recorded with the reason


class InvalidResultRow(ValueError):
    """A stored screening result no retry can make right: named, so ops can repair it."""

    def __init__(self, dossier: str, step: str, reason: str) -> None:
        super().__init__(
            f"{dossier}: screening result {step} is invalid: {reason}. Repair the row in "
            f"screening_results, then resume the run (python -m starter screen now, or "
            f"screen backfill --year <year>): nothing already sent is sent again."
        )
        self.dossier = dossier


class ResultRow(BaseModel):
    """What every screening result row must say before it is told to anyone: checked when
    the run reads rows back (another writer, or a hand edit, may have written them)."""

    model_config = ConfigDict(frozen=True)
    dossier: str
    outcome: Outcome
    passed: bool
    score: float | None = Field(None, ge=0, le=100)
    rubric_version: str = Field(min_length=1)
    remarks: str

    @model_validator(mode="after")
    def _consistent(self) -> ResultRow:
        if self.passed != (self.outcome == Outcome.PASSED):
            raise ValueError(f"passed={self.passed} contradicts outcome {self.outcome.value!r}")
        if self.outcome != Outcome.INCOMPLETE and self.score is None:
            raise ValueError(f"a {self.outcome.value} result needs a score")
        if not self.passed and not self.remarks.strip():
            raise ValueError("a negative result needs remarks saying why")
        return self

    @classmethod
    def check(cls, step: str, **row: object) -> ResultRow:
        try:
            return cls.model_validate(row)
        except ValidationError as exc:
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}"
                f" (got {e['input']!r})" if e["loc"] else e["msg"]
                for e in exc.errors()
            )
            raise InvalidResultRow(str(row.get("dossier")), step, reason) from exc


class Phase(StrEnum):
    SCORING = "scoring"
    DELIVERING = "delivering"  # e-mailing providers and signalling cases
    REPORTING = "reporting"
    DONE = "done"


class ScreeningTrigger(BaseModel):
    """Input of the scheduled workflow; the year is that of the scheduled time."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=5000)


class ScreeningProgress(BaseModel):
    """How far a run is; carried across continue-as-new and shown to ops."""

    year: int
    screening_date: date
    rubric_version: str
    total: int
    phase: Phase = Phase.SCORING
    scored: int = 0
    delivered: int = 0  # cases told (signalled) or found ended
    case_ended: int = 0
    # Registered on the screening date but not yet due: not screened, not told.
    not_yet_due: int = 0
    # Keyset cursor of the scoring phase: last dossier scored.
    score_cursor: str = ""
    # Page boundaries found while scoring: delivery page i covers (bounds[i-1], bounds[i]].
    bounds: list[str] = Field(default_factory=list)
    # Delivery pages finished (indexes into bounds).
    delivered_pages: list[int] = Field(default_factory=list)
    runs: int = 1


class ScreeningInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=9999)
    # Trainings registered on this day are screened (default: 15 January of `year`, set by
    # the trigger from the schedule's time).
    screening_date: date
    # Relative to the project root; None: the one in settings.
    rubric_path: str | None = None
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=5000)
    parallel_pages: int = Field(DEFAULT_PARALLEL_PAGES, ge=1, le=16)
    signal_concurrency: int = Field(DEFAULT_SIGNAL_CONCURRENCY, ge=1, le=256)
    carried: ScreeningProgress | None = None


class PrepareInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    year: int
    screening_date: date
    rubric_path: str | None = None
    workflow_id: str


class PrepareResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    year: int
    screening_date: date
    activity_year: int
    rubric_version: str
    total: int
    # True when an earlier run already froze this year's population (a resumed start).
    resumed: bool = False
    # Cases an earlier (failed) run of the year already told: a resumed run counts them.
    delivered: int = 0
    # Registered on the screening date but not yet due (no data year yet): never told.
    not_yet_due: int = 0


class ScorePageInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    year: int
    after: str = ""  # last dossier of the previous page
    limit: int


class ScorePageResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    count: int  # trainings of this page (scored now or by an earlier attempt)
    last: str = ""  # last dossier of this page; "" when the page was empty


class DeliverPageInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    year: int
    after: str  # exclusive
    upto: str  # inclusive
    signal_concurrency: int = DEFAULT_SIGNAL_CONCURRENCY


class DeliverPageResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    signalled: int = 0
    case_ended: int = 0
    emails_sent: int = 0
    # Cases already told by an earlier attempt of this page.
    already: int = 0


class NegativeEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    dossier: str
    outcome: Outcome
    score: float | None
    remarks: str


class ScreeningReport(BaseModel):
    """The run report: stored in screening_runs.report and returned by the workflow."""

    year: int
    screening_date: date
    rubric_version: str
    total: int
    counts: dict[str, int] = Field(default_factory=dict)  # per Outcome
    # Score distribution in buckets of 10 points: "0-9" .. "90-100"; incomplete excluded.
    distribution: dict[str, int] = Field(default_factory=dict)
    signalled: int = 0
    case_ended: list[str] = Field(default_factory=list)  # dossiers whose case had ended
    negatives: list[NegativeEntry] = Field(default_factory=list)
    # The negatives list is cut here in the workflow result (payload limits); the
    # registry keeps them all.
    negatives_truncated: bool = False
    emails_sent: int = 0
    # Registered on the screening date, but their registration started after 1 January of
    # the data year: not screened, no notice. By first screening year ("2027": 3).
    not_yet_due: int = 0
    not_yet_due_by_first_year: dict[str, int] = Field(default_factory=dict)


class TriggerResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    year: int
    workflow_id: str
    # False: a screening for this year had already run or was running; nothing new started.
    started: bool
    report: ScreeningReport | None = None
