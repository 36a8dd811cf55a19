"""How a case reads for people: its nearest deadline, who must act, the Web UI's search
attributes and Markdown details. Pure functions of the case's status (deterministic)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from temporalio.common import SearchAttributeUpdate

from models import search
from models.application import TrainingApplication
from models.case import (
    Appeal,
    CaseState,
    CaseStatus,
    Deadline,
    DeadlineKind,
    HearingSide,
    StepLog,
)
from models.case_row import CaseRow
from models.dutch import END_REASON, STATE, dutch_date, dutch_word
from rules.deadlines import BRUSSELS

_TIMER_WORDS = {
    DeadlineKind.APPEAL_WINDOW: "appeal window until",
    DeadlineKind.BEC_DECISION: "BEC decision due by",
    DeadlineKind.REMOVAL: "removal from the registry after",
}


def next_timer(s: CaseStatus) -> Deadline | None:
    """The nearest deadline the case is waiting on, if any."""
    candidates: list[Deadline] = []
    if s.appeal_window is not None:
        candidates.append(s.appeal_window)
    appeal = s.open_appeal
    if appeal is not None and not appeal.overdue:
        candidates.append(appeal.deadline)
    if s.removal is not None and s.state == CaseState.REMOVAL_SCHEDULED:
        candidates.append(s.removal)
    return min(candidates, key=lambda d: d.due_at, default=None)


def wakes_at(s: CaseStatus) -> datetime | None:
    """When the case's own timer fires for its nearest deadline: its due_at, and for a
    refused case's appeal window `refusal_final_after_days` later (the refusal becomes final
    only then, room to register an appeal e-mailed in time). A live case past this by more
    than an hour is stuck (its timer did not move it on)."""
    timer = next_timer(s)
    if timer is None:
        return None
    if timer.kind == DeadlineKind.APPEAL_WINDOW and s.state == CaseState.REFUSED:
        return timer.due_at + timedelta(days=s.refusal_final_after_days)
    return timer.due_at


FRESH_RUN_SUMMARY = "fresh run (continue-as-new) after the screening outcome"


def timer_summary(deadline: Deadline) -> str:
    """What the timer is, in the event history: "appeal window until 14 maart 2027"."""
    return f"{_TIMER_WORDS[deadline.kind]} {dutch_date(deadline.last_day)}"


def describe_state(s: CaseStatus) -> str:
    if s.state == CaseState.ENDED and s.end_reason is not None:
        return f"ended ({s.end_reason.value})"
    return s.state.value.replace("_", " ")


def describe_state_nl(s: CaseStatus) -> str:
    """`describe_state` in Dutch, the pages' words: "afgesloten (stopgezet)"."""
    if s.state == CaseState.ENDED and s.end_reason is not None:
        return f"{dutch_word(STATE, s.state.value)} ({dutch_word(END_REASON, s.end_reason.value)})"
    return dutch_word(STATE, s.state.value)


def who_and_what(s: CaseStatus) -> tuple[str, str]:
    """Who must act next (reviewer, provider, bec, nobody) and what that step is."""
    appeal = s.open_appeal
    if s.state == CaseState.UNDER_REVIEW:
        return "reviewer", f"a reviewer of {s.competent_body} approves or refuses"
    if s.state == CaseState.ENDED:
        return "nobody", "none: the case has ended"
    if appeal is not None:
        missing = [side.value for side in HearingSide if not appeal.heard(side)]
        if missing:
            return "bec", f"the BEC hears the {' and the '.join(missing)}"
        return "bec", f"the BEC decides by {dutch_date(appeal.deadline.last_day)}"
    if s.window_starts_with is not None and s.state == CaseState.REFUSED:
        return "nobody", (
            "refusal decided, notice not yet sent: the appeal window starts on the day the "
            "refusal e-mail goes out"
        )
    if s.appeal_window is not None:
        return "provider", f"the provider may appeal until {dutch_date(s.appeal_window.last_day)}"
    if s.state == CaseState.REMOVAL_SCHEDULED and s.removal is not None:
        return "nobody", f"removal from the registry after {dutch_date(s.removal.last_day)}"
    return "nobody", "registered; screened again next year"


def waiting_since(s: CaseStatus) -> datetime | None:
    """Since when the party who must act next waits: the reviewer since the submission, the
    BEC since the appeal was received, the provider since its appeal window opened."""
    appeal = s.open_appeal
    if s.state == CaseState.UNDER_REVIEW:
        return s.submitted_at
    if appeal is not None:
        return appeal.received_at or appeal.filed_at
    if s.appeal_window is not None and s.waiting_for == "provider":
        start = datetime.combine(s.appeal_window.starts_on, time(0), tzinfo=BRUSSELS)
        return start.astimezone(UTC)
    return None


def missing_hearings(appeal: Appeal) -> str:
    """The hearings an appeal still misses, as OdbMissingHearings holds them."""
    missing = [side.value for side in HearingSide if not appeal.heard(side)]
    return ",".join(missing) or "none"


def worklist_attributes(s: CaseStatus) -> list[SearchAttributeUpdate[Any]]:
    """The worklists' search attributes (published since `publish-worklist-attributes`)."""
    since = waiting_since(s)
    appeal = s.open_appeal
    return [
        search.WAITING_SINCE.value_set(since) if since else search.WAITING_SINCE.value_unset(),
        search.MISSING_HEARINGS.value_set(missing_hearings(appeal))
        if appeal
        else search.MISSING_HEARINGS.value_unset(),
        search.BEC_DUE_ON.value_set(appeal.deadline.last_day.isoformat())
        if appeal
        else search.BEC_DUE_ON.value_unset(),
        search.APPEAL_WITHOUT_DOCUMENT.value_set(appeal.document_id is None)
        if appeal
        else search.APPEAL_WITHOUT_DOCUMENT.value_unset(),
    ]


def search_attributes(
    s: CaseStatus, *, worklists: bool = True
) -> Sequence[SearchAttributeUpdate[Any]]:
    """Every search attribute of the case; `worklists=False` for a run recorded before the
    worklists' attributes existed (its history has no upserts of them)."""
    timer = next_timer(s)
    appeal = s.open_appeal
    removal = s.removal if s.state == CaseState.REMOVAL_SCHEDULED else None
    return [
        search.STATE.value_set(s.state.value),
        search.COMPETENT_BODY.value_set(s.competent_body),
        search.PROVIDER.value_set(s.provider),
        search.WAITING_FOR.value_set(s.waiting_for),
        search.OVERDUE.value_set(bool(appeal and appeal.overdue)),
        search.NEXT_DEADLINE.value_set(timer.due_at)
        if timer
        else search.NEXT_DEADLINE.value_unset(),
        search.NEXT_DEADLINE_KIND.value_set(timer.kind.value)
        if timer
        else search.NEXT_DEADLINE_KIND.value_unset(),
        search.REMOVAL_ON.value_set(removal.due_at) if removal else search.REMOVAL_ON.value_unset(),
        search.END_REASON.value_set(s.end_reason.value)
        if s.end_reason
        else search.END_REASON.value_unset(),
        search.SCREENED_YEAR.value_set(s.screenings[-1].year)
        if s.screenings
        else search.SCREENED_YEAR.value_unset(),
        *(worklist_attributes(s) if worklists else []),
    ]


def details_markdown(s: CaseStatus) -> str:
    """The case's current details in the Web UI: state, deadlines, next step, who acts."""
    lines = [
        f"## {s.dossier} — {s.title}",
        f"**State:** {describe_state(s)}  ",
        f"**Competent body:** {s.competent_body}  ",
        f"**Provider:** {s.provider}  ",
        f"**Who must act:** {s.waiting_for}  ",
        f"**Next step:** {s.next_step}",
    ]
    if s.predecessor:
        lines.append(f"**Replaces:** {s.predecessor}  ")
    if s.replaced_by:
        lines.append(f"**Replaced by:** {s.replaced_by}  ")
    if s.registered_from:
        until = f" until {dutch_date(s.registered_until)}" if s.registered_until else ""
        lines.append(f"**Registered:** from {dutch_date(s.registered_from)}{until}")
    open_deadlines = [d for d in (s.appeal_window, s.removal) if d is not None]
    if s.open_appeal is not None:
        open_deadlines.append(s.open_appeal.deadline)
    if open_deadlines:
        lines.append("\n### Deadlines")
        for d in sorted(open_deadlines, key=lambda d: d.due_at):
            shifted = f" ({'; '.join(d.shifts)})" if d.shifts else ""
            lines.append(f"- {timer_summary(d)}{shifted}")
    if s.open_appeal is not None and s.open_appeal.overdue:
        lines.append("\n**⚠ BEC decision overdue**")
    if s.pending_notices:
        lines.append("\n### E-mails not yet sent")
        for n in s.pending_notices:
            why = f" — ⚠ refused by the mail server: {n.rejected}" if n.rejected else ""
            lines.append(f"- {n.kind} (`{n.message_id}`){why}")
    return "\n".join(lines)


# ---- what each kind of reader sees of people ----

# Who takes each human step, as a provider is told it: staff appear by role, never by id.
_STEP_ROLES = {
    "application.submitted": "provider",
    "application.withdrawn": "provider",
    "application.stopped": "provider",
    "application.appeal.heard": "BEC",
    "application.appeal.hearing_waived": "BEC",
    "application.appeal.granted": "BEC",
    "application.appeal.rejected": "BEC",
    "application.revoked": "department",
    "application.deadline.corrected": "department",
}
_DECISION_ROLES = {"appeal": "BEC", "revocation": "department"}


def _reviewer(s: CaseStatus) -> str:
    return f"reviewer {s.competent_body}"


def decision_role(kind: str, competent_body: str) -> str:
    """Who took a decision of this kind, as a provider is told it."""
    return _DECISION_ROLES.get(kind, f"reviewer {competent_body}")


def appeal_filer_role(route: str) -> str:
    """Who filed an appeal: the provider, or the BEC registering one that came by e-mail."""
    return "BEC" if route == "email" else "provider"


def _filed_by(appeal: Appeal) -> str:
    return appeal_filer_role(appeal.route)


def _step_role(s: CaseStatus, step: StepLog) -> str:
    if step.by == "system":
        return "system"
    if step.event in ("application.approved", "application.refused"):
        return _reviewer(s)
    if step.event == "application.appeal.filed":
        number = step.step.removeprefix("appeal-")
        appeal = next((a for a in s.appeals if str(a.number) == number), None)
        return _filed_by(appeal) if appeal else "provider"
    return _STEP_ROLES.get(step.event, "department")


def provider_view(s: CaseStatus) -> CaseStatus:
    """The case as its provider reads it: every person's id replaced by the role that acted
    ("reviewer VOC", "BEC", "department", "provider", "system")."""
    decisions = [
        d.model_copy(update={"decided_by": decision_role(d.kind, s.competent_body)})
        for d in s.decisions
    ]
    appeals = [
        a.model_copy(
            update={
                "filed_by": _filed_by(a),
                "hearings": [h.model_copy(update={"recorded_by": "BEC"}) for h in a.hearings],
                "decision": a.decision.model_copy(update={"decided_by": "BEC"})
                if a.decision
                else None,
            }
        )
        for a in s.appeals
    ]
    history = [h.model_copy(update={"by": _step_role(s, h)}) for h in s.history]
    return s.model_copy(update={"decisions": decisions, "appeals": appeals, "history": history})


def without_documents(s: CaseStatus) -> CaseStatus:
    """The case for a reader who may not read its documents (a reviewer): no document ids."""
    appeals = [a.model_copy(update={"document_id": None}) for a in s.appeals]
    return s.model_copy(update={"appeals": appeals})


# ---- the registry's current-state row ----


def case_row(s: CaseStatus, *, step: str, at: datetime) -> CaseRow:
    """The row the registry keeps for the case after `step`: the same who/what, deadline and
    worklist facts the search attributes carry, from the same functions."""
    waiting_for, next_step = who_and_what(s)
    s = s.model_copy(update={"waiting_for": waiting_for, "next_step": next_step})
    timer = next_timer(s)
    appeal = s.open_appeal
    removal = s.removal if s.state == CaseState.REMOVAL_SCHEDULED else None
    return CaseRow(
        dossier=s.dossier,
        provider=s.provider,
        competent_body=s.competent_body,
        title=s.title,
        state=s.state.value,
        end_reason=s.end_reason.value if s.end_reason else None,
        waiting_for=waiting_for,
        next_step=next_step,
        waiting_since=waiting_since(s),
        next_deadline_kind=timer.kind.value if timer else None,
        next_deadline_on=timer.last_day if timer else None,
        next_deadline_at=timer.due_at if timer else None,
        wakes_at=wakes_at(s),
        open_appeal=appeal is not None,
        bec_due_on=appeal.deadline.last_day if appeal else None,
        overdue=bool(appeal and appeal.overdue),
        missing_hearings=missing_hearings(appeal) if appeal else "",
        appeal_without_document=bool(appeal and appeal.document_id is None),
        removal_on=removal.last_day if removal else None,
        submitted_at=s.submitted_at,
        last_step=step,
        last_step_at=at,
        status=s,
    )


# A dossier whose case is still to be started (registry/case_starts.py): nobody acts yet.
STARTING_WAITING_FOR = "system"
# The step its reads are as of: received, no step of its case recorded.
RECEIVED_STEP = "received"
_S = TypeVar("_S", bound=CaseStatus)


def starting_next_step(competent_body: str) -> str:
    return (
        "received; its case is being started (the case engine could not take it yet) and "
        f"goes to a reviewer of {competent_body} as soon as it is: nothing is needed from you"
    )


def being_started(s: _S) -> _S:
    """The dossier as read while its case is still to be started: received, waiting for
    the system to start its case, on no one's worklist."""
    return s.model_copy(
        update={
            "waiting_for": STARTING_WAITING_FOR,
            "next_step": starting_next_step(s.competent_body),
        }
    )


def initial_status(
    dossier: str, application: TrainingApplication, submitted_at: datetime
) -> CaseStatus:
    """A new case, before its first step: under review at its competent body."""
    s = CaseStatus(
        dossier=dossier,
        title=application.title,
        provider=application.provider,
        competent_body=application.competent_body,
        state=CaseState.UNDER_REVIEW,
        submitted_at=submitted_at,
        predecessor=application.predecessor_dossier,
    )
    s.waiting_for, s.next_step = who_and_what(s)
    return s
