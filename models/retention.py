"""What is kept, and for how long: the retention table's contract (the data is
`retention.yaml`, read by runtime/retention_table.py) and what the purge passes around.

Every kind of record has one rule: how long (`keep`) after which moment (`after`) it is
kept, and what happens then (`then`): `delete` it, `strip_personal` (replace every person's
id by the role that acted, empty the free text people wrote and the addresses, keep the
rest), or `keep` it for good. Each kind is counted from one moment and allows only the
actions that leave the legal record whole: the register of decisions and registrations is
never deleted. No I/O here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from models.application import DOSSIER_PATTERN
from models.text import Text


class Kind(StrEnum):
    """The kinds of record, in the order a purge run takes them."""

    DELIVERIES = "deliveries"  # webhook delivery attempts (event_deliveries)
    EVENTS = "events"  # the portal's CloudEvents of a dossier (events, with their deliveries)
    EMAILS = "emails"  # every e-mail sent about a dossier (notifications)
    DOCUMENTS = "documents"  # appeal motivation documents (documents, document_dossiers)
    AUDIT = "audit"  # the audit steps of a dossier (who did what, when)
    DOSSIER = "dossier"  # the application, decisions, appeals, hearings, registrations, row
    SCREENING_RESULTS = "screening_results"  # yearly screening results of a dossier
    PROVIDER_CONTACT = "provider_contact"  # a provider's contact in the providers register


class Moment(StrEnum):
    CASE_ENDED = "case_ended"  # the step that ended the case (withdrawn, refused, ..., removed)
    # The BEC's decision on the appeal the document motivates (a document no appeal names:
    # its upload; one named by an appeal still undecided: not yet).
    APPEAL_DECIDED = "appeal_decided"
    # The provider's registration in the providers register ended (deactivated, still so).
    REGISTRATION_ENDED = "registration_ended"
    # The receiver accepted the event, or it was given up (failed) for that subscription.
    DELIVERY_SETTLED = "delivery_settled"


class Action(StrEnum):
    KEEP = "keep"
    STRIP_PERSONAL = "strip_personal"
    DELETE = "delete"


# Per kind: the moment it is counted from, and the actions that leave the legal record whole.
MOMENTS: dict[Kind, Moment] = {
    Kind.DELIVERIES: Moment.DELIVERY_SETTLED,
    Kind.EVENTS: Moment.CASE_ENDED,
    Kind.EMAILS: Moment.CASE_ENDED,
    Kind.DOCUMENTS: Moment.APPEAL_DECIDED,
    Kind.AUDIT: Moment.CASE_ENDED,
    Kind.DOSSIER: Moment.CASE_ENDED,
    Kind.SCREENING_RESULTS: Moment.CASE_ENDED,
    Kind.PROVIDER_CONTACT: Moment.REGISTRATION_ENDED,
}
ACTIONS: dict[Kind, tuple[Action, ...]] = {
    Kind.DELIVERIES: (Action.KEEP, Action.DELETE),
    Kind.EVENTS: (Action.KEEP, Action.DELETE),
    Kind.EMAILS: (Action.KEEP, Action.STRIP_PERSONAL, Action.DELETE),
    Kind.DOCUMENTS: (Action.KEEP, Action.STRIP_PERSONAL, Action.DELETE),
    # How a case went is the registry's record once Temporal's history is gone: never deleted.
    Kind.AUDIT: (Action.KEEP, Action.STRIP_PERSONAL),
    # The legal record (decisions, registration periods, the open data): never deleted.
    Kind.DOSSIER: (Action.KEEP, Action.STRIP_PERSONAL),
    Kind.SCREENING_RESULTS: (Action.KEEP, Action.DELETE),
    Kind.PROVIDER_CONTACT: (Action.KEEP, Action.STRIP_PERSONAL),
}
WHY_NOT: dict[Kind, str] = {
    Kind.AUDIT: "the audit steps are the only record of how a case went once Temporal's "
    "history is gone",
    Kind.DOSSIER: "decisions and registrations are the public register (open data, the as-of "
    "query) and are kept",
}


class Period(BaseModel):
    """A calendar period: `{years: 10}`, `{months: 6}`, `{minutes: 5}` (tests, drills)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    years: int = Field(0, ge=0, le=200)
    months: int = Field(0, ge=0, le=2400)
    days: int = Field(0, ge=0, le=100000)
    hours: int = Field(0, ge=0, le=1000000)
    minutes: int = Field(0, ge=0, le=10000000)

    def text(self) -> str:
        parts = [
            f"{n} {unit if n == 1 else unit + 's'}"
            for n, unit in (
                (self.years, "year"),
                (self.months, "month"),
                (self.days, "day"),
                (self.hours, "hour"),
                (self.minutes, "minute"),
            )
            if n
        ]
        return " ".join(parts) or "0 minutes"


def _keep_kind(value: object) -> str:
    return "forever" if isinstance(value, str) else "period"


# `forever`, or a period: one branch is checked, so an error names the period's own key.
Keep = Annotated[
    Annotated[Period, Tag("period")] | Annotated[Literal["forever"], Tag("forever")],
    Discriminator(_keep_kind),
]


class Rule(BaseModel):
    """One kind's retention."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # What the kind holds, in words (shown by the dry run and docs/retention.md).
    what: Annotated[str, Field(min_length=3)]
    after: Moment
    keep: Keep
    then: Action
    # Why this period: the reason a public body gives for it (GDPR art. 5(1)(e)).
    why: Annotated[str, Field(min_length=10)]

    @model_validator(mode="after")
    def _forever_is_keep(self) -> Rule:
        if self.then == Action.KEEP and self.keep != "forever":
            raise ValueError("then: keep means kept for good: write keep: forever")
        if self.then != Action.KEEP and self.keep == "forever":
            raise ValueError(f"keep: forever, but then: {self.then.value}: give a period")
        return self

    @property
    def period(self) -> Period | None:
        return None if self.keep == "forever" else self.keep

    def text(self) -> str:
        if self.period is None:
            return "kept permanently"
        return f"{self.then.value} {self.period.text()} after {self.after.value}"


class Kinds(BaseModel):
    """Every kind of record has a stated retention: a missing one or an unknown one is
    refused, naming it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deliveries: Rule
    events: Rule
    emails: Rule
    documents: Rule
    audit: Rule
    dossier: Rule
    screening_results: Rule
    provider_contact: Rule

    @model_validator(mode="after")
    def _fits_each_kind(self) -> Kinds:
        for kind in Kind:
            rule: Rule = getattr(self, kind.value)
            if rule.after != MOMENTS[kind]:
                raise _KindError(
                    kind,
                    "after",
                    f"{kind.value} are counted from {MOMENTS[kind].value}, not {rule.after.value}",
                )
            if rule.then not in ACTIONS[kind]:
                allowed = ", ".join(a.value for a in ACTIONS[kind])
                why = f" ({WHY_NOT[kind]})" if kind in WHY_NOT else ""
                raise _KindError(
                    kind,
                    "then",
                    f"{rule.then.value} is not allowed for {kind.value}{why}; use {allowed}",
                )
        return self


class _KindError(ValueError):
    """A rule that does not fit its kind; `key` is where, within `kinds`."""

    def __init__(self, kind: Kind, field: str, message: str) -> None:
        super().__init__(message)
        self.key = f"kinds.{kind.value}.{field}"
        self.message = message


class RetentionTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Written with every purge run, so each batch says under which table it went.
    version: Annotated[str, Field(min_length=1, max_length=100)]
    kinds: Kinds

    def rule(self, kind: Kind) -> Rule:
        rule: Rule = getattr(self.kinds, kind.value)
        return rule


# ---- what the purge passes around ----


class RetentionInput(BaseModel):
    """Input of RetentionWorkflow. Empty from the schedule (as of its scheduled time)."""

    model_config = ConfigDict(extra="forbid")

    # Everything due at this instant goes; default: the scheduled time (or now).
    as_of: AwareDatetime | None = None
    # Records per batch (one transaction each) and batches per workflow run.
    batch_size: int = Field(200, ge=1, le=10000)
    batches_per_run: int = Field(100, ge=1, le=10000)
    carried: RetentionProgress | None = None


class RetentionProgress(BaseModel):
    """A purge run's progress, carried across continue-as-new."""

    run_id: str
    as_of: datetime
    table: RetentionTable
    phase: Literal["archive", "purge", "done"] = "archive"
    kind_index: int = 0
    batch_no: int = 0  # batches started so far (names each batch: run/kind/number)
    archived: int = 0
    taken: dict[str, int] = Field(default_factory=dict)
    runs: int = 1


class StartInput(BaseModel):
    run_id: str
    as_of: datetime


class ArchiveMissingInput(BaseModel):
    limit: int


class PurgeBatchInput(BaseModel):
    run_id: str
    batch_key: str  # run/kind/number: a retried batch finds its own row and changes nothing
    kind: Kind
    rule: Rule
    table_version: str
    as_of: datetime
    limit: int


class PurgeBatchResult(BaseModel):
    kind: Kind
    action: Action
    count: int
    moment_from: datetime | None = None
    moment_to: datetime | None = None
    keys: list[str] = Field(default_factory=list)
    replayed: bool = False  # a retry: the batch had run, nothing was changed again


class FinishInput(BaseModel):
    run_id: str
    taken: dict[str, int]
    archived: int


class RetentionReport(BaseModel):
    run_id: str
    as_of: datetime
    table_version: str
    archived: int
    taken: dict[str, int]
    batches: int


class Due(BaseModel):
    """What the table takes of one kind as of an instant (the dry run, and each batch)."""

    kind: Kind
    rule: Rule
    count: int
    moment_from: datetime | None = None
    moment_to: datetime | None = None
    keys: list[str] = Field(default_factory=list)


RetentionInput.model_rebuild()


class HoldInput(BaseModel):
    """The department keeps a dossier whole (a case in court): nothing of it is purged
    until the hold is released."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dossier: Annotated[str, Field(pattern=DOSSIER_PATTERN)]
    reason: Annotated[str, Text(2000, min_length=3)]
