"""Who may do what to a case, in which state: each rule once, with the sentence a user reads.

The case workflow's update validators call these (role and state, against the live case);
the API and the CLI call the role rules before they send anything (they know the dossier's
owner and competent body from the registry, not the live state). A rule that refuses raises
`CaseRefused` with a stable `Refusal` type; the workflow turns it into a non-retryable
ApplicationError, the API into an HTTP problem.

An update the validator accepted is checked again when its turn comes (`accepted=True`): only
its state, since who acts (the actor in the input, the case's provider) cannot change while
it waits. That also keeps every accepted decision of a running case replaying when a role
rule grows stricter: the stricter rule refuses new requests, never a recorded one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from models.case import (
    Appeal,
    AppealInput,
    AppealSubject,
    BecDecisionInput,
    CaseState,
    CaseStatus,
    CorrectReceiptInput,
    DeadlineKind,
    HearingInput,
    HearingSide,
    RegisterAppealInput,
    ReviewDecisionInput,
    RevokeInput,
    StopInput,
    WithdrawInput,
)
from models.dutch import dutch_date
from models.errors import Refusal
from models.identity import Actor, RoleKind
from rules import deadlines
from rules.case_view import describe_state

MIN_REASON = 10  # a written reason of fewer characters is not a reason
# A refusal becomes final this many days after its appeal window closed, not at once: an
# appeal e-mailed in time is registered by the BEC secretariat when it is read (the next
# working morning, or after a weekend), and is judged by when it was received.
REFUSAL_FINAL_AFTER_DAYS = 4
REGISTERED_STATES = (CaseState.REGISTERED, CaseState.REMOVAL_SCHEDULED)


class CaseRefused(Exception):
    """A rule refuses the request; `field` names the offending input, as the portal sent it."""

    def __init__(self, refusal: Refusal, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.field = field


class Owned(Protocol):
    """What the role rules need of a dossier: the live case or the registry's summary."""

    @property
    def dossier(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def competent_body(self) -> str: ...


# ---- role rules (the API checks these before it sends anything) ----


def reviewer_of(actor: Actor, case: Owned) -> None:
    body = case.competent_body
    if not actor.reviews_for(body):
        raise CaseRefused(
            Refusal.FORBIDDEN,
            f"only a reviewer of {body}, the competent body of {case.dossier}, "
            "can decide on this application",
        )


def independent_of(actor: Actor, case: Owned, instead: str) -> None:
    """Nobody decides on their own organisation's dossier: not as its reviewer, not in the
    BEC (five *independent* experts), not for the department. Checked after the role, so
    only someone entitled to act on the dossier, and acting for its provider, hears of it;
    `instead` says who can act."""
    if actor.organisation is not None and actor.organisation == case.provider:
        raise CaseRefused(
            Refusal.CONFLICT,
            f"conflict of interest: you also act for organisation {case.provider}, the "
            f"provider of {case.dossier}; {instead}",
        )


def provider_of(actor: Actor, case: Owned, action: str = "do this") -> None:
    if not actor.has(RoleKind.PROVIDER):
        raise CaseRefused(
            Refusal.FORBIDDEN,
            f"only the provider's 'DWSE organisatieverantwoordelijke' (context "
            f"opleidingsdatabank) can {action}; ask your organisation's local "
            "administrator for that right",
        )
    if not actor.is_provider_of(case.provider):
        raise CaseRefused(
            Refusal.FORBIDDEN,
            f"{case.dossier} belongs to another organisation; you can only {action} "
            "for your own organisation's dossiers",
        )


def bec_member(actor: Actor, action: str = "do this") -> None:
    if not actor.has(RoleKind.BEC):
        raise CaseRefused(
            Refusal.FORBIDDEN,
            f"only a member of the beroeps- en evaluatiecommissie (BEC) can {action}",
        )


def department_staff(actor: Actor, action: str = "do this") -> None:
    if not actor.has(RoleKind.DEPARTMENT):
        raise CaseRefused(Refusal.FORBIDDEN, f"only department WSE staff can {action}")


# ---- who may send each decision (the decisions table names these; the API and CLI check
# them before sending, the workflow again inside each decision's rule below) ----


def may_review(actor: Actor, case: Owned) -> None:
    reviewer_of(actor, case)
    independent_of(actor, case, f"another reviewer of {case.competent_body} must decide it")


def may_withdraw(actor: Actor, case: Owned) -> None:
    provider_of(actor, case, "withdraw this application")


def may_appeal(actor: Actor, case: Owned) -> None:
    provider_of(actor, case, "appeal this decision")


def may_register_appeal(actor: Actor, case: Owned) -> None:
    bec_member(actor, "register an appeal received by e-mail")
    independent_of(actor, case, "another member of the BEC must register this appeal")


def may_record_hearing(actor: Actor, case: Owned) -> None:
    bec_member(actor, "record a hearing")
    independent_of(actor, case, "another member of the BEC must record its hearings")


def may_decide_appeal(actor: Actor, case: Owned) -> None:
    bec_member(actor, "decide on an appeal")
    independent_of(actor, case, "the other members of the BEC decide this appeal")


def may_stop(actor: Actor, case: Owned) -> None:
    provider_of(actor, case, "stop this registration")


def may_revoke(actor: Actor, case: Owned) -> None:
    department_staff(actor, "revoke a registration")
    independent_of(actor, case, "another member of department WSE staff must revoke it")


def may_correct_receipt(actor: Actor, case: Owned) -> None:
    department_staff(actor, "correct a receipt date")
    independent_of(actor, case, "another member of department WSE staff must correct it")


# ---- state rules (the workflow checks these against the live case) ----


def require_reason(reason: str, what: str) -> None:
    if len(reason.strip()) < MIN_REASON:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            f"{what} needs a written reason of at least {MIN_REASON} characters",
            field="reason",
        )


def expect(s: CaseStatus, state: CaseState, action: str) -> None:
    if s.state != state:
        raise CaseRefused(
            Refusal.INVALID_STATE, f"cannot {action}: {s.dossier} is {describe_state(s)}"
        )


def expect_registered(s: CaseStatus, action: str) -> None:
    if s.state not in REGISTERED_STATES:
        raise CaseRefused(
            Refusal.INVALID_STATE, f"cannot {action}: {s.dossier} is {describe_state(s)}"
        )


def open_appeal(s: CaseStatus, action: str) -> Appeal:
    appeal = s.open_appeal
    if appeal is None or s.state == CaseState.ENDED:
        raise CaseRefused(
            Refusal.INVALID_STATE,
            f"cannot {action}: {s.dossier} has no appeal pending at the BEC",
        )
    return appeal


def appealed_decision_day(s: CaseStatus, subject: AppealSubject | None) -> date:
    """The day the decision open to appeal was sent (refusal or screening notice)."""
    if subject == AppealSubject.SCREENING:
        negatives = [o for o in s.screenings if not o.passed]
        if negatives:
            return negatives[-1].notified_on
    reviews = [d for d in s.decisions if d.kind == "review"]
    if reviews:
        return deadlines.brussels_day(reviews[-1].decided_at)
    return deadlines.brussels_day(s.submitted_at)


def review(s: CaseStatus, inp: ReviewDecisionInput, *, accepted: bool = False) -> None:
    if not accepted:
        may_review(inp.actor, s)
    expect(s, CaseState.UNDER_REVIEW, "decide on the application")
    if not inp.approve:
        require_reason(inp.reason, "a refusal")


def withdraw(s: CaseStatus, inp: WithdrawInput, *, accepted: bool = False) -> None:
    if not accepted:
        may_withdraw(inp.actor, s)
    expect(s, CaseState.UNDER_REVIEW, "withdraw the application (only before a decision)")


def one_appeal_per_decision(s: CaseStatus) -> None:
    first = s.open_appeal
    if first is not None:
        how = "by e-mail" if first.route == "email" else "through the portal"
        received = deadlines.brussels_day(first.received_at or first.filed_at)
        raise CaseRefused(
            Refusal.INVALID_STATE,
            f"appeal {first.number} against this decision ({how}, received "
            f"{dutch_date(received)}) is already at the BEC; wait for its decision",
        )


def appeal(s: CaseStatus, inp: AppealInput, now: datetime, *, accepted: bool = False) -> None:
    if not accepted:
        may_appeal(inp.actor, s)
    one_appeal_per_decision(s)
    window = s.appeal_window
    lapsed = s.lapsed_window
    # Refused, its e-mail not yet sent: the window has not even started, an appeal is in time.
    notice_unsent = s.window_starts_with is not None and s.state == CaseState.REFUSED
    if window is None and lapsed is not None and not notice_unsent:
        raise CaseRefused(
            Refusal.WINDOW_CLOSED,
            f"the appeal window closed at the end of {dutch_date(lapsed.last_day)}; "
            "an appeal can no longer be filed",
        )
    if (window is None and not notice_unsent) or s.state not in (
        CaseState.REFUSED,
        CaseState.REMOVAL_SCHEDULED,
    ):
        raise CaseRefused(
            Refusal.INVALID_STATE,
            f"{s.dossier} has no decision open to appeal (state: {s.state.value})",
        )
    if window is not None and now >= window.due_at:
        raise CaseRefused(
            Refusal.WINDOW_CLOSED,
            f"the appeal window closed at the end of {dutch_date(window.last_day)}; "
            "an appeal can no longer be filed",
        )
    if len(inp.motivation.strip()) < MIN_REASON:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "an appeal needs a motivation (at least 10 characters) citing the dossier",
            field="motivation",
        )


def register_appeal(
    s: CaseStatus, inp: RegisterAppealInput, now: datetime, *, accepted: bool = False
) -> None:
    """An appeal e-mailed to the BEC, registered with the moment it was received: in time
    when received before the window closed, whenever it is registered."""
    if not accepted:
        may_register_appeal(inp.actor, s)
    one_appeal_per_decision(s)
    received = inp.received_at
    if received > now:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "received_at: the moment the e-mail was received cannot be in the future",
            "received_at",
        )
    notice_unsent = s.window_starts_with is not None and s.state == CaseState.REFUSED
    window = s.appeal_window or s.lapsed_window
    if s.state not in (CaseState.REFUSED, CaseState.REMOVAL_SCHEDULED) or (
        window is None and not notice_unsent
    ):
        raise CaseRefused(
            Refusal.INVALID_STATE,
            f"{s.dossier} has no decision open to appeal (state: {s.state.value})",
        )
    decided = decision_moment(s, s.appeal_window_subject)
    if received < decided:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "received_at: an appeal cannot be received before the decision it appeals "
            f"({decided.isoformat()})",
            "received_at",
        )
    if window is not None and received >= window.due_at:
        raise CaseRefused(
            Refusal.WINDOW_CLOSED,
            f"the e-mail was received after the appeal window closed at the end of "
            f"{dutch_date(window.last_day)}; the appeal is too late",
        )
    if len(inp.motivation.strip()) < MIN_REASON:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "an appeal needs a motivation (at least 10 characters) citing the dossier",
            field="motivation",
        )


def decision_moment(s: CaseStatus, subject: AppealSubject | None) -> datetime:
    """When the decision open to appeal was taken (a screening: the start of its notice day)."""
    if subject == AppealSubject.SCREENING:
        negatives = [o for o in s.screenings if not o.passed]
        if negatives:
            return deadlines.start_of_day(negatives[-1].notified_on)
    reviews = [d for d in s.decisions if d.kind == "review"]
    return reviews[-1].decided_at if reviews else s.submitted_at


def hearing(s: CaseStatus, inp: HearingInput, now: datetime, *, accepted: bool = False) -> Appeal:
    if not accepted:
        may_record_hearing(inp.actor, s)
    pending = open_appeal(s, "record a hearing")
    if pending.heard(inp.side):
        raise CaseRefused(
            Refusal.INVALID_STATE,
            f"the {inp.side.value} was already heard (or the hearing waived) "
            f"in appeal {pending.number}",
        )
    if inp.held_on is not None and inp.held_on > deadlines.brussels_day(now):
        raise CaseRefused(
            Refusal.INVALID_INPUT, "held_on: a hearing cannot be in the future", "held_on"
        )
    return pending


def bec_decision(s: CaseStatus, inp: BecDecisionInput, *, accepted: bool = False) -> Appeal:
    if not accepted:
        may_decide_appeal(inp.actor, s)
    pending = open_appeal(s, "decide on an appeal")
    missing = [side.value for side in HearingSide if not pending.heard(side)]
    if missing:
        raise CaseRefused(
            Refusal.INVALID_STATE,
            "the BEC decides only after hearing both sides: record the hearing "
            f"(or its waiver) of the {' and the '.join(missing)} first",
        )
    require_reason(inp.reason, "a BEC decision")
    return pending


def stop(s: CaseStatus, inp: StopInput, *, accepted: bool = False) -> None:
    if not accepted:
        may_stop(inp.actor, s)
    expect_registered(s, "stop the registration")


def revoke(s: CaseStatus, inp: RevokeInput, *, accepted: bool = False) -> None:
    if not accepted:
        may_revoke(inp.actor, s)
    expect_registered(s, "revoke the registration")
    require_reason(inp.reason, "a revocation")


def correction(
    s: CaseStatus, inp: CorrectReceiptInput, now: datetime, *, accepted: bool = False
) -> None:
    if not accepted:
        may_correct_receipt(inp.actor, s)
    require_reason(inp.reason, "a correction")
    today = deadlines.brussels_day(now)
    if inp.received_on > today:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "received_on: a receipt date cannot be in the future",
            "received_on",
        )
    if inp.deadline == DeadlineKind.APPEAL_WINDOW:
        if s.appeal_window is None and s.window_starts_with is None:
            raise CaseRefused(
                Refusal.INVALID_STATE, f"{s.dossier} has no open appeal window to correct"
            )
        sent_on = appealed_decision_day(s, s.appeal_window_subject)
        if inp.received_on < sent_on:
            raise CaseRefused(
                Refusal.INVALID_INPUT,
                "received_on: a decision cannot be received before it was sent "
                f"({sent_on.isoformat()})",
                "received_on",
            )
    elif inp.deadline == DeadlineKind.BEC_DECISION:
        pending = open_appeal(s, "correct the appeal's receipt date")
        sent_on = appealed_decision_day(s, pending.subject)
        if inp.received_on < sent_on:
            raise CaseRefused(
                Refusal.INVALID_INPUT,
                "received_on: an appeal cannot be received before the decision it "
                f"appeals was sent ({sent_on.isoformat()})",
                "received_on",
            )
    else:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "deadline: the removal date follows from the screening notice; correct the "
            "appeal_window's receipt date of that notice instead",
            "deadline",
        )
