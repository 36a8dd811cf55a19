"""Who may do what to a case, in which state: each rule once, with the sentence a user reads.

The case workflow's update validators call these (role and state, against the live case);
the API and the CLI call the role rules before they send anything (they know the dossier's
owner and competent body from the registry, not the live state). A rule that refuses raises
`CaseRefused` with a stable `Refusal` type and two sentences: the English one is the API's
problem `detail` (clients and tests depend on it), the Dutch one (`nl`) is what the pages
show, as a Flemish civil servant writes it. The workflow turns it into a non-retryable
ApplicationError carrying both, the API into an HTTP problem.

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
from models.dutch import dutch_date, dutch_long_date
from models.errors import Refusal
from models.identity import Actor, RoleKind
from rules import deadlines
from rules.case_view import describe_state, describe_state_nl

MIN_REASON = 10  # a written reason of fewer characters is not a reason
# A refusal becomes final this many days after its appeal window closed, not at once: an
# appeal e-mailed in time is registered by the BEC secretariat when it is read (the next
# working morning, or after a weekend), and is judged by when it was received.
REFUSAL_FINAL_AFTER_DAYS = 4
REGISTERED_STATES = (CaseState.REGISTERED, CaseState.REMOVAL_SCHEDULED)


class CaseRefused(Exception):
    """A rule refuses the request; `field` names the offending input, as the portal sent it;
    `message` says why in English (the API), `nl` the same in Dutch (the pages)."""

    def __init__(
        self, refusal: Refusal, message: str, field: str | None = None, *, nl: str
    ) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.field = field
        self.nl = nl


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
            nl=f"Alleen een beoordelaar van {body}, de bevoegde instantie voor dossier "
            f"{case.dossier}, kan over deze aanvraag beslissen.",
        )


def acts_for(actor: Actor, provider: str) -> bool:
    """The actor also acts for `provider`: a conflict of interest on its dossiers (a worklist
    marks them, `independent_of` refuses a decision on them)."""
    return actor.organisation is not None and actor.organisation == provider


def independent_of(actor: Actor, case: Owned, instead: str, instead_nl: str) -> None:
    """Nobody decides on their own organisation's dossier: not as its reviewer, not in the
    BEC (five *independent* experts), not for the department. Checked after the role, so
    only someone entitled to act on the dossier, and acting for its provider, hears of it;
    `instead` (and `instead_nl`, a Dutch sentence) says who can act."""
    if acts_for(actor, case.provider):
        raise CaseRefused(
            Refusal.CONFLICT,
            f"conflict of interest: you also act for organisation {case.provider}, the "
            f"provider of {case.dossier}; {instead}",
            nl=f"Belangenconflict: u treedt ook op voor organisatie {case.provider}, de "
            f"aanbieder van dossier {case.dossier}. {instead_nl}",
        )


# A role rule's `action` is English ("appeal this decision"), its `doen` the same in Dutch,
# as it ends a sentence after "kan" ("beroep aantekenen tegen deze beslissing").


def provider_of(actor: Actor, case: Owned, action: str, doen: str) -> None:
    if not actor.has(RoleKind.PROVIDER):
        raise CaseRefused(
            Refusal.FORBIDDEN,
            f"only the provider's 'DWSE organisatieverantwoordelijke' (context "
            f"opleidingsdatabank) can {action}; ask your organisation's local "
            "administrator for that right",
            nl="Alleen wie voor de organisatie de rol 'DWSE organisatieverantwoordelijke' "
            f"(context opleidingsdatabank) heeft, kan {doen}. Vraag de lokale beheerder van "
            "uw organisatie om dat recht.",
        )
    if not actor.is_provider_of(case.provider):
        raise CaseRefused(
            Refusal.FORBIDDEN,
            f"{case.dossier} belongs to another organisation; you can only {action} "
            "for your own organisation's dossiers",
            nl=f"Dossier {case.dossier} hoort bij een andere organisatie. U kunt alleen "
            "optreden in de dossiers van uw eigen organisatie.",
        )


def bec_member(actor: Actor, action: str, doen: str) -> None:
    if not actor.has(RoleKind.BEC):
        raise CaseRefused(
            Refusal.FORBIDDEN,
            f"only a member of the beroeps- en evaluatiecommissie (BEC) can {action}",
            nl=f"Alleen een lid van de beroeps- en evaluatiecommissie (BEC) kan {doen}.",
        )


def department_staff(actor: Actor, action: str, doen: str) -> None:
    if not actor.has(RoleKind.DEPARTMENT):
        raise CaseRefused(
            Refusal.FORBIDDEN,
            f"only department WSE staff can {action}",
            nl=f"Alleen medewerkers van het departement WSE kunnen {doen}.",
        )


# ---- who may send each decision (the decisions table names these; the API and CLI check
# them before sending, the workflow again inside each decision's rule below) ----


def may_review(actor: Actor, case: Owned) -> None:
    reviewer_of(actor, case)
    independent_of(
        actor,
        case,
        f"another reviewer of {case.competent_body} must decide it",
        f"Een andere beoordelaar van {case.competent_body} moet over deze aanvraag beslissen.",
    )


def may_withdraw(actor: Actor, case: Owned) -> None:
    provider_of(actor, case, "withdraw this application", "deze aanvraag intrekken")


def may_appeal(actor: Actor, case: Owned) -> None:
    provider_of(actor, case, "appeal this decision", "beroep aantekenen tegen deze beslissing")


def may_register_appeal(actor: Actor, case: Owned) -> None:
    bec_member(actor, "register an appeal received by e-mail", "een beroep per e-mail registreren")
    independent_of(
        actor,
        case,
        "another member of the BEC must register this appeal",
        "Een ander lid van de BEC moet dit beroep registreren.",
    )


def may_record_hearing(actor: Actor, case: Owned) -> None:
    bec_member(actor, "record a hearing", "een hoorzitting registreren")
    independent_of(
        actor,
        case,
        "another member of the BEC must record its hearings",
        "Een ander lid van de BEC moet de hoorzittingen in dit beroep registreren.",
    )


def may_decide_appeal(actor: Actor, case: Owned) -> None:
    bec_member(actor, "decide on an appeal", "over een beroep beslissen")
    independent_of(
        actor,
        case,
        "the other members of the BEC decide this appeal",
        "De andere leden van de BEC beslissen over dit beroep.",
    )


def may_stop(actor: Actor, case: Owned) -> None:
    provider_of(actor, case, "stop this registration", "deze registratie stopzetten")


def may_revoke(actor: Actor, case: Owned) -> None:
    department_staff(actor, "revoke a registration", "een registratie intrekken")
    independent_of(
        actor,
        case,
        "another member of department WSE staff must revoke it",
        "Een andere medewerker van het departement WSE moet de registratie intrekken.",
    )


def may_correct_receipt(actor: Actor, case: Owned) -> None:
    department_staff(actor, "correct a receipt date", "een ontvangstdatum corrigeren")
    independent_of(
        actor,
        case,
        "another member of department WSE staff must correct it",
        "Een andere medewerker van het departement WSE moet de ontvangstdatum corrigeren.",
    )


# ---- state rules (the workflow checks these against the live case) ----


def require_reason(reason: str, what: str, van: str) -> None:
    """`van`: whose reason, in Dutch ("de weigering")."""
    if len(reason.strip()) < MIN_REASON:
        nl = (
            f"Vul de reden van {van} in: minstens {MIN_REASON} tekens."
            if not reason.strip()
            else f"De reden van {van} is te kort: schrijf minstens {MIN_REASON} tekens."
        )
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            f"{what} needs a written reason of at least {MIN_REASON} characters",
            field="reason",
            nl=nl,
        )


# A state rule's `action` is English ("decide on the application"), `kan_niet` the Dutch
# sentence's start ("Beslissen over de aanvraag kan niet").


def _not_now(s: CaseStatus, action: str, kan_niet: str) -> CaseRefused:
    return CaseRefused(
        Refusal.INVALID_STATE,
        f"cannot {action}: {s.dossier} is {describe_state(s)}",
        nl=f"{kan_niet}: de toestand van dossier {s.dossier} is nu: {describe_state_nl(s)}.",
    )


def expect(s: CaseStatus, state: CaseState, action: str, kan_niet: str) -> None:
    if s.state != state:
        raise _not_now(s, action, kan_niet)


def expect_registered(s: CaseStatus, action: str, kan_niet: str) -> None:
    if s.state not in REGISTERED_STATES:
        raise _not_now(s, action, kan_niet)


def open_appeal(s: CaseStatus, action: str, kan_niet: str) -> Appeal:
    appeal = s.open_appeal
    if appeal is None or s.state == CaseState.ENDED:
        raise CaseRefused(
            Refusal.INVALID_STATE,
            f"cannot {action}: {s.dossier} has no appeal pending at the BEC",
            nl=f"{kan_niet}: dossier {s.dossier} heeft geen lopend beroep bij de BEC.",
        )
    return appeal


def _no_decision_to_appeal(s: CaseStatus) -> CaseRefused:
    return CaseRefused(
        Refusal.INVALID_STATE,
        f"{s.dossier} has no decision open to appeal (state: {s.state.value})",
        nl=f"In dossier {s.dossier} is er geen beslissing waartegen beroep mogelijk is "
        f"(toestand: {describe_state_nl(s)}).",
    )


def _window_closed(last_day: date) -> CaseRefused:
    return CaseRefused(
        Refusal.WINDOW_CLOSED,
        f"the appeal window closed at the end of {dutch_date(last_day)}; "
        "an appeal can no longer be filed",
        nl=f"De beroepstermijn liep tot en met {dutch_long_date(last_day)}. U kunt geen "
        "beroep meer aantekenen.",
    )


def _short_motivation() -> CaseRefused:
    return CaseRefused(
        Refusal.INVALID_INPUT,
        "an appeal needs a motivation (at least 10 characters) citing the dossier",
        field="motivation",
        nl=f"Schrijf een motivering van minstens {MIN_REASON} tekens die het beroep uitlegt "
        "en het dossiernummer vermeldt.",
    )


def _brussels_moment(moment: datetime) -> str:
    """`20 december 2029 om 14.05 uur`: a moment as a Flemish letter writes it."""
    local = moment.astimezone(deadlines.BRUSSELS)
    return f"{dutch_date(local.date())} om {local:%H.%M} uur"


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
    expect(
        s,
        CaseState.UNDER_REVIEW,
        "decide on the application",
        "Beslissen over de aanvraag kan niet",
    )
    if not inp.approve:
        require_reason(inp.reason, "a refusal", "de weigering")


def withdraw(s: CaseStatus, inp: WithdrawInput, *, accepted: bool = False) -> None:
    if not accepted:
        may_withdraw(inp.actor, s)
    expect(
        s,
        CaseState.UNDER_REVIEW,
        "withdraw the application (only before a decision)",
        "De aanvraag intrekken kan alleen vóór een beslissing",
    )


def one_appeal_per_decision(s: CaseStatus) -> None:
    first = s.open_appeal
    if first is not None:
        how = "by e-mail" if first.route == "email" else "through the portal"
        hoe = "per e-mail" if first.route == "email" else "via het loket"
        received = deadlines.brussels_day(first.received_at or first.filed_at)
        raise CaseRefused(
            Refusal.INVALID_STATE,
            f"appeal {first.number} against this decision ({how}, received "
            f"{dutch_date(received)}) is already at the BEC; wait for its decision",
            nl=f"Tegen deze beslissing ligt al beroep {first.number} bij de BEC ({hoe}, "
            f"ontvangen op {dutch_date(received)}). Wacht op de beslissing over dat beroep.",
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
        raise _window_closed(lapsed.last_day)
    if (window is None and not notice_unsent) or s.state not in (
        CaseState.REFUSED,
        CaseState.REMOVAL_SCHEDULED,
    ):
        raise _no_decision_to_appeal(s)
    if window is not None and now >= window.due_at:
        raise _window_closed(window.last_day)
    if len(inp.motivation.strip()) < MIN_REASON:
        raise _short_motivation()


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
            nl="Het moment waarop de e-mail ontvangen werd, kan niet in de toekomst liggen.",
        )
    notice_unsent = s.window_starts_with is not None and s.state == CaseState.REFUSED
    window = s.appeal_window or s.lapsed_window
    if s.state not in (CaseState.REFUSED, CaseState.REMOVAL_SCHEDULED) or (
        window is None and not notice_unsent
    ):
        raise _no_decision_to_appeal(s)
    decided = decision_moment(s, s.appeal_window_subject)
    if received < decided:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "received_at: an appeal cannot be received before the decision it appeals "
            f"({decided.isoformat()})",
            "received_at",
            nl="Een beroep kan niet ontvangen zijn vóór de beslissing waartegen het ingaat "
            f"({_brussels_moment(decided)}).",
        )
    if window is not None and received >= window.due_at:
        raise CaseRefused(
            Refusal.WINDOW_CLOSED,
            f"the e-mail was received after the appeal window closed at the end of "
            f"{dutch_date(window.last_day)}; the appeal is too late",
            nl="De e-mail werd ontvangen na het einde van de beroepstermijn, die liep tot en "
            f"met {dutch_long_date(window.last_day)}. Het beroep is te laat.",
        )
    if len(inp.motivation.strip()) < MIN_REASON:
        raise _short_motivation()


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
    pending = open_appeal(s, "record a hearing", "Een hoorzitting registreren kan niet")
    if pending.heard(inp.side):
        raise CaseRefused(
            Refusal.INVALID_STATE,
            f"the {inp.side.value} was already heard (or the hearing waived) "
            f"in appeal {pending.number}",
            nl=f"{SIDE_NL[inp.side].capitalize()} werd in beroep {pending.number} al gehoord "
            "(of er werd afgezien van de hoorzitting).",
        )
    if inp.held_on is not None and inp.held_on > deadlines.brussels_day(now):
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "held_on: a hearing cannot be in the future",
            "held_on",
            nl="Een hoorzitting kan niet in de toekomst liggen.",
        )
    return pending


# Who is heard in an appeal, in Dutch.
SIDE_NL = {HearingSide.PROVIDER: "de organisatie", HearingSide.DEPARTMENT: "het departement"}


def bec_decision(s: CaseStatus, inp: BecDecisionInput, *, accepted: bool = False) -> Appeal:
    if not accepted:
        may_decide_appeal(inp.actor, s)
    pending = open_appeal(s, "decide on an appeal", "Beslissen over een beroep kan niet")
    missing = [side for side in HearingSide if not pending.heard(side)]
    if missing:
        raise CaseRefused(
            Refusal.INVALID_STATE,
            "the BEC decides only after hearing both sides: record the hearing "
            f"(or its waiver) of the {' and the '.join(m.value for m in missing)} first",
            nl="De BEC beslist pas nadat beide partijen gehoord zijn. Registreer eerst de "
            "hoorzitting (of het afzien ervan) van "
            f"{' en van '.join(SIDE_NL[m] for m in missing)}.",
        )
    require_reason(inp.reason, "a BEC decision", "de beslissing")
    return pending


def stop(s: CaseStatus, inp: StopInput, *, accepted: bool = False) -> None:
    if not accepted:
        may_stop(inp.actor, s)
    expect_registered(s, "stop the registration", "De registratie stopzetten kan niet")


def revoke(s: CaseStatus, inp: RevokeInput, *, accepted: bool = False) -> None:
    if not accepted:
        may_revoke(inp.actor, s)
    expect_registered(s, "revoke the registration", "De registratie intrekken kan niet")
    require_reason(inp.reason, "a revocation", "de intrekking")


def correction(
    s: CaseStatus, inp: CorrectReceiptInput, now: datetime, *, accepted: bool = False
) -> None:
    if not accepted:
        may_correct_receipt(inp.actor, s)
    require_reason(inp.reason, "a correction", "de correctie")
    today = deadlines.brussels_day(now)
    if inp.received_on > today:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "received_on: a receipt date cannot be in the future",
            "received_on",
            nl="De ontvangstdatum kan niet in de toekomst liggen.",
        )
    if inp.deadline == DeadlineKind.APPEAL_WINDOW:
        if s.appeal_window is None and s.window_starts_with is None:
            raise CaseRefused(
                Refusal.INVALID_STATE,
                f"{s.dossier} has no open appeal window to correct",
                nl=f"Dossier {s.dossier} heeft geen lopende beroepstermijn om te corrigeren.",
            )
        sent_on = appealed_decision_day(s, s.appeal_window_subject)
        if inp.received_on < sent_on:
            raise CaseRefused(
                Refusal.INVALID_INPUT,
                "received_on: a decision cannot be received before it was sent "
                f"({sent_on.isoformat()})",
                "received_on",
                nl="De ontvangstdatum kan niet vóór de verzending van de beslissing liggen "
                f"({dutch_date(sent_on)}).",
            )
    elif inp.deadline == DeadlineKind.BEC_DECISION:
        pending = open_appeal(
            s,
            "correct the appeal's receipt date",
            "De ontvangstdatum van het beroep corrigeren kan niet",
        )
        sent_on = appealed_decision_day(s, pending.subject)
        if inp.received_on < sent_on:
            raise CaseRefused(
                Refusal.INVALID_INPUT,
                "received_on: an appeal cannot be received before the decision it "
                f"appeals was sent ({sent_on.isoformat()})",
                "received_on",
                nl="Een beroep kan niet ontvangen zijn vóór de beslissing waartegen het "
                f"ingaat verstuurd werd ({dutch_date(sent_on)}).",
            )
    else:
        raise CaseRefused(
            Refusal.INVALID_INPUT,
            "deadline: the removal date follows from the screening notice; correct the "
            "appeal_window's receipt date of that notice instead",
            "deadline",
            nl="De datum van verwijdering volgt uit de kennisgeving van de screening. "
            "Corrigeer in de plaats daarvan de ontvangstdatum van die kennisgeving "
            "(de beroepstermijn).",
        )
