"""Each guard of rules/guards.py refuses in Dutch too, saying the specific thing: the day a
window closed, who must act instead, which hearing is missing, the case's state in the
pages' words. Pure: the rules against hand-made cases, no servers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from models.case import (
    Appeal,
    AppealInput,
    AppealSubject,
    BecDecisionInput,
    CaseState,
    CaseStatus,
    CorrectReceiptInput,
    DeadlineKind,
    Decision,
    EndReason,
    Hearing,
    HearingInput,
    HearingSide,
    RegisterAppealInput,
    ReviewDecisionInput,
    RevokeInput,
    StopInput,
    WithdrawInput,
)
from models.errors import Refusal
from models.identity import Actor, Role, RoleKind
from rules import guards
from rules.deadlines import appeal_window, bec_decision_deadline, end_of_day
from rules.guards import CaseRefused

ORG = "0123456749"
OTHER = "0987654394"
DOSSIER = "ODB-2027-000042"
REASON = "Een voldoende lange, geschreven reden."
MOTIVATION = "Beroep tegen ODB-2027-000042, zie bijlage."
DECIDED = datetime(2027, 6, 8, 12, 30, tzinfo=UTC)  # 14.30 uur in Brussels (summer time)
WINDOW = appeal_window(date(2027, 6, 8))  # last day: donderdag 8 juli 2027

PROVIDER = Actor(subject="an", organisation=ORG, roles=(Role(kind=RoleKind.PROVIDER),))
OTHER_PROVIDER = Actor(subject="bo", organisation=OTHER, roles=(Role(kind=RoleKind.PROVIDER),))
NO_ROLE = Actor(subject="cas", organisation=ORG)
VOC = Actor(subject="dirk", roles=(Role(kind=RoleKind.REVIEWER, body="VOC"),))
PC200 = Actor(subject="eva", roles=(Role(kind=RoleKind.REVIEWER, body="PC 200"),))
BEC = Actor(subject="fien", roles=(Role(kind=RoleKind.BEC),))
DEPARTMENT = Actor(subject="gert", roles=(Role(kind=RoleKind.DEPARTMENT),))
# Acts for the dossier's own organisation and holds every deciding role.
INSIDER = Actor(
    subject="hanne",
    organisation=ORG,
    roles=(
        Role(kind=RoleKind.REVIEWER, body="VOC"),
        Role(kind=RoleKind.BEC),
        Role(kind=RoleKind.DEPARTMENT),
    ),
)


def case(state: CaseState, **values: object) -> CaseStatus:
    return CaseStatus.model_validate(
        {
            "dossier": DOSSIER,
            "title": "Lassen voor gevorderden",
            "provider": ORG,
            "competent_body": "VOC",
            "state": state,
            "submitted_at": datetime(2027, 5, 3, 9, 0, tzinfo=UTC),
            **values,
        }
    )


def refused_case() -> CaseStatus:
    review = Decision(
        kind="review", outcome="refused", reason=REASON, decided_at=DECIDED, decided_by="dirk"
    )
    return case(
        CaseState.REFUSED,
        decisions=[review],
        appeal_window=WINDOW,
        appeal_window_subject=AppealSubject.REFUSAL,
    )


def in_appeal(*heard: HearingSide, route: str = "portal") -> CaseStatus:
    received = datetime(2027, 6, 10, 8, 0, tzinfo=UTC)
    appeal = Appeal(
        number=1,
        subject=AppealSubject.REFUSAL,
        filed_at=received,
        filed_by="an",
        motivation=MOTIVATION,
        deadline=bec_decision_deadline(date(2027, 6, 10)),
        hearings=[
            Hearing(side=side, held_on=date(2027, 6, 20), recorded_by="fien") for side in heard
        ],
        route=route,
        received_at=received if route == "email" else None,
    )
    base = refused_case()
    return base.model_copy(update={"state": CaseState.IN_APPEAL, "appeals": [appeal]})


def dutch(call: Callable[[], object]) -> CaseRefused:
    """The guard's refusal, after checking it has a Dutch sentence of its own."""
    with pytest.raises(CaseRefused) as refused:
        call()
    exc = refused.value
    assert exc.nl and exc.nl != exc.message
    assert exc.nl[0].isupper() and exc.nl.endswith("."), exc.nl
    return exc


IN_WINDOW = datetime(2027, 6, 20, 10, 0, tzinfo=UTC)
AFTER_WINDOW = end_of_day(WINDOW.last_day) + timedelta(minutes=1)


# ---- who may act ----


def test_a_reviewer_of_another_body_is_told_which_body_decides() -> None:
    exc = dutch(lambda: guards.may_review(PC200, case(CaseState.UNDER_REVIEW)))
    assert exc.refusal == Refusal.FORBIDDEN
    assert exc.nl == (
        f"Alleen een beoordelaar van VOC, de bevoegde instantie voor dossier {DOSSIER}, kan "
        "over deze aanvraag beslissen."
    )


@pytest.mark.parametrize(
    ("check", "instead"),
    [
        (guards.may_review, "Een andere beoordelaar van VOC moet over deze aanvraag beslissen."),
        (guards.may_register_appeal, "Een ander lid van de BEC moet dit beroep registreren."),
        (guards.may_record_hearing, "Een ander lid van de BEC moet de hoorzittingen"),
        (guards.may_decide_appeal, "De andere leden van de BEC beslissen over dit beroep."),
        (guards.may_revoke, "Een andere medewerker van het departement WSE moet de registratie"),
        (guards.may_correct_receipt, "departement WSE moet de ontvangstdatum corrigeren."),
    ],
)
def test_someone_acting_for_the_dossiers_organisation_is_told_who_acts_instead(
    check: Callable[[Actor, CaseStatus], None], instead: str
) -> None:
    exc = dutch(lambda: check(INSIDER, case(CaseState.UNDER_REVIEW)))
    assert exc.refusal == Refusal.CONFLICT
    assert exc.nl.startswith(
        f"Belangenconflict: u treedt ook op voor organisatie {ORG}, de aanbieder van dossier "
        f"{DOSSIER}. "
    )
    assert instead in exc.nl


def test_someone_without_the_provider_role_is_sent_to_the_local_administrator() -> None:
    exc = dutch(lambda: guards.may_appeal(NO_ROLE, refused_case()))
    assert "'DWSE organisatieverantwoordelijke' (context opleidingsdatabank)" in exc.nl
    assert "kan beroep aantekenen tegen deze beslissing." in exc.nl
    assert "lokale beheerder van uw organisatie" in exc.nl


def test_another_organisations_dossier_is_named_as_not_theirs() -> None:
    exc = dutch(lambda: guards.may_stop(OTHER_PROVIDER, case(CaseState.REGISTERED)))
    assert exc.nl.startswith(f"Dossier {DOSSIER} hoort bij een andere organisatie.")


def test_a_role_rule_names_what_only_that_role_can_do() -> None:
    exc = dutch(lambda: guards.may_record_hearing(PROVIDER, in_appeal()))
    assert exc.nl == (
        "Alleen een lid van de beroeps- en evaluatiecommissie (BEC) kan een hoorzitting "
        "registreren."
    )
    exc = dutch(
        lambda: guards.department_staff(BEC, "place a hold", "een dossier in bewaring houden")
    )
    assert (
        exc.nl
        == "Alleen medewerkers van het departement WSE kunnen een dossier in bewaring houden."
    )


# ---- the case's state ----


def test_a_decision_on_a_case_no_longer_under_review_names_its_state() -> None:
    approve = ReviewDecisionInput(actor=VOC, approve=True)
    exc = dutch(lambda: guards.review(case(CaseState.REGISTERED), approve))
    assert exc.refusal == Refusal.INVALID_STATE
    assert exc.nl == (
        f"Beslissen over de aanvraag kan niet: de toestand van dossier {DOSSIER} is nu: "
        "geregistreerd."
    )
    ended = case(CaseState.ENDED, end_reason=EndReason.STOPPED)
    exc = dutch(lambda: guards.review(ended, approve))
    assert exc.nl.endswith("is nu: afgesloten (stopgezet).")


def test_a_withdrawal_after_the_decision_says_it_was_only_possible_before() -> None:
    exc = dutch(lambda: guards.withdraw(refused_case(), WithdrawInput(actor=PROVIDER)))
    assert exc.nl.startswith("De aanvraag intrekken kan alleen vóór een beslissing:")
    assert exc.nl.endswith("is nu: geweigerd.")


def test_stopping_or_revoking_what_is_not_registered_names_the_state() -> None:
    exc = dutch(lambda: guards.stop(refused_case(), StopInput(actor=PROVIDER)))
    assert exc.nl.startswith("De registratie stopzetten kan niet:")
    revoke = RevokeInput(actor=DEPARTMENT, reason=REASON)
    exc = dutch(lambda: guards.revoke(case(CaseState.UNDER_REVIEW), revoke))
    assert exc.nl.endswith("is nu: wacht op beoordeling.")


def test_a_reason_left_empty_or_too_short_is_said_apart() -> None:
    empty = ReviewDecisionInput(actor=VOC, approve=False, reason="  ")
    exc = dutch(lambda: guards.review(case(CaseState.UNDER_REVIEW), empty))
    assert (exc.refusal, exc.field) == (Refusal.INVALID_INPUT, "reason")
    assert exc.nl == "Vul de reden van de weigering in: minstens 10 tekens."
    short = RevokeInput(actor=DEPARTMENT, reason="te kort")
    exc = dutch(lambda: guards.revoke(case(CaseState.REGISTERED), short))
    assert exc.nl == "De reden van de intrekking is te kort: schrijf minstens 10 tekens."


# ---- appeals ----


def test_an_appeal_after_the_window_names_the_last_day() -> None:
    appeal = AppealInput(actor=PROVIDER, motivation=MOTIVATION)
    exc = dutch(lambda: guards.appeal(refused_case(), appeal, AFTER_WINDOW))
    assert exc.refusal == Refusal.WINDOW_CLOSED
    assert exc.nl == (
        "De beroepstermijn liep tot en met donderdag 8 juli 2027. U kunt geen beroep meer "
        "aantekenen."
    )
    lapsed = refused_case().model_copy(update={"appeal_window": None, "lapsed_window": WINDOW})
    exc = dutch(lambda: guards.appeal(lapsed, appeal, AFTER_WINDOW))
    assert "donderdag 8 juli 2027" in exc.nl


def test_an_appeal_without_a_decision_to_appeal_names_the_state() -> None:
    appeal = AppealInput(actor=PROVIDER, motivation=MOTIVATION)
    exc = dutch(lambda: guards.appeal(case(CaseState.REGISTERED), appeal, IN_WINDOW))
    assert exc.nl == (
        f"In dossier {DOSSIER} is er geen beslissing waartegen beroep mogelijk is "
        "(toestand: geregistreerd)."
    )


def test_a_short_motivation_asks_for_one_citing_the_dossier() -> None:
    appeal = AppealInput(actor=PROVIDER, motivation="kort")
    exc = dutch(lambda: guards.appeal(refused_case(), appeal, IN_WINDOW))
    assert (exc.refusal, exc.field) == (Refusal.INVALID_INPUT, "motivation")
    assert "minstens 10 tekens" in exc.nl and "dossiernummer" in exc.nl


def test_a_second_appeal_names_the_first_how_and_when_it_came_in() -> None:
    appeal = AppealInput(actor=PROVIDER, motivation=MOTIVATION)
    exc = dutch(lambda: guards.appeal(in_appeal(route="email"), appeal, IN_WINDOW))
    assert exc.nl == (
        "Tegen deze beslissing ligt al beroep 1 bij de BEC (per e-mail, ontvangen op "
        "10 juni 2027). Wacht op de beslissing over dat beroep."
    )
    exc = dutch(lambda: guards.appeal(in_appeal(), appeal, IN_WINDOW))
    assert "(via het loket, ontvangen op 10 juni 2027)" in exc.nl


def test_an_emailed_appeal_registered_with_a_wrong_moment_says_what_is_wrong() -> None:
    def register(received_at: datetime, now: datetime = IN_WINDOW) -> CaseRefused:
        inp = RegisterAppealInput(actor=BEC, received_at=received_at, motivation=MOTIVATION)
        return dutch(lambda: guards.register_appeal(refused_case(), inp, now))

    future = register(IN_WINDOW + timedelta(hours=1))
    assert (future.field, future.nl) == (
        "received_at",
        "Het moment waarop de e-mail ontvangen werd, kan niet in de toekomst liggen.",
    )
    early = register(DECIDED - timedelta(hours=1))
    assert early.nl == (
        "Een beroep kan niet ontvangen zijn vóór de beslissing waartegen het ingaat "
        "(8 juni 2027 om 14.30 uur)."
    )
    late = register(AFTER_WINDOW, now=AFTER_WINDOW + timedelta(days=2))
    assert late.refusal == Refusal.WINDOW_CLOSED
    assert late.nl == (
        "De e-mail werd ontvangen na het einde van de beroepstermijn, die liep tot en met "
        "donderdag 8 juli 2027. Het beroep is te laat."
    )


def test_a_hearing_twice_in_the_future_or_without_appeal_is_refused_in_dutch() -> None:
    heard = in_appeal(HearingSide.PROVIDER)
    again = HearingInput(actor=BEC, side=HearingSide.PROVIDER)
    exc = dutch(lambda: guards.hearing(heard, again, IN_WINDOW))
    assert exc.nl == (
        "De organisatie werd in beroep 1 al gehoord (of er werd afgezien van de hoorzitting)."
    )
    later = HearingInput(actor=BEC, side=HearingSide.DEPARTMENT, held_on=date(2027, 6, 21))
    exc = dutch(lambda: guards.hearing(heard, later, IN_WINDOW))
    assert (exc.field, exc.nl) == ("held_on", "Een hoorzitting kan niet in de toekomst liggen.")
    exc = dutch(lambda: guards.hearing(refused_case(), again, IN_WINDOW))
    assert exc.nl == (
        f"Een hoorzitting registreren kan niet: dossier {DOSSIER} heeft geen lopend beroep "
        "bij de BEC."
    )


def test_a_bec_decision_before_the_hearings_names_who_is_still_to_be_heard() -> None:
    decide = BecDecisionInput(actor=BEC, granted=True, reason=REASON)
    exc = dutch(lambda: guards.bec_decision(in_appeal(), decide))
    assert exc.nl == (
        "De BEC beslist pas nadat beide partijen gehoord zijn. Registreer eerst de hoorzitting "
        "(of het afzien ervan) van de organisatie en van het departement."
    )
    exc = dutch(lambda: guards.bec_decision(in_appeal(HearingSide.PROVIDER), decide))
    assert exc.nl.endswith("(of het afzien ervan) van het departement.")


# ---- corrections of a receipt date ----


def correct(s: CaseStatus, kind: DeadlineKind, received_on: date) -> CaseRefused:
    inp = CorrectReceiptInput(
        actor=DEPARTMENT, deadline=kind, received_on=received_on, reason=REASON
    )
    return dutch(lambda: guards.correction(s, inp, IN_WINDOW))


def test_a_receipt_date_correction_says_what_is_wrong_with_the_day() -> None:
    future = correct(refused_case(), DeadlineKind.APPEAL_WINDOW, date(2027, 6, 21))
    assert (future.field, future.nl) == (
        "received_on",
        "De ontvangstdatum kan niet in de toekomst liggen.",
    )
    early = correct(refused_case(), DeadlineKind.APPEAL_WINDOW, date(2027, 6, 7))
    assert early.nl == (
        "De ontvangstdatum kan niet vóór de verzending van de beslissing liggen (8 juni 2027)."
    )
    appeal_early = correct(in_appeal(), DeadlineKind.BEC_DECISION, date(2027, 6, 7))
    assert appeal_early.nl.endswith("ingaat verstuurd werd (8 juni 2027).")


def test_a_correction_without_its_deadline_names_what_is_missing() -> None:
    no_window = correct(case(CaseState.REGISTERED), DeadlineKind.APPEAL_WINDOW, date(2027, 6, 9))
    assert no_window.nl == (
        f"Dossier {DOSSIER} heeft geen lopende beroepstermijn om te corrigeren."
    )
    no_appeal = correct(refused_case(), DeadlineKind.BEC_DECISION, date(2027, 6, 9))
    assert no_appeal.nl.startswith("De ontvangstdatum van het beroep corrigeren kan niet:")
    removal = correct(refused_case(), DeadlineKind.REMOVAL, date(2027, 6, 9))
    assert removal.field == "deadline"
    assert "kennisgeving van de screening" in removal.nl
