"""The one table of human decisions: one row per decision, from which the client's dispatch
(`CaseService.update`), the API's routes (and so the OpenAPI document) and the CLI's
sub-commands are built.

Adding a decision is one row here plus its update handler in the case workflow
(`workflows/application.py`) and its rule in `rules/guards.py`; `tests/api/test_decisions.py`
checks that every workflow update has exactly one row and every row an update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from models.case import (
    AppealInput,
    BecDecisionInput,
    CorrectReceiptInput,
    HearingInput,
    RegisterAppealInput,
    ReviewDecisionInput,
    RevokeInput,
    StopInput,
    WithdrawInput,
    _ActorInput,
)
from models.identity import Actor
from models.registry import DossierSummary
from rules import guards

# Who the CLI acts as by default for a dossier: (organisation, role texts).
ActingAs = Callable[[DossierSummary], tuple[str | None, tuple[str, ...]]]


def _as_provider(d: DossierSummary) -> tuple[str | None, tuple[str, ...]]:
    return d.provider, ("provider",)


def _as_reviewer(d: DossierSummary) -> tuple[str | None, tuple[str, ...]]:
    return None, (f"reviewer:{d.competent_body}",)


def _as_bec(_: DossierSummary) -> tuple[str | None, tuple[str, ...]]:
    return None, ("bec",)


def _as_department(_: DossierSummary) -> tuple[str | None, tuple[str, ...]]:
    return None, ("department",)


@dataclass(frozen=True)
class Decision:
    route: str  # POST /dossiers/{dossier}/<route>
    update: str  # the case workflow's update
    model: type[_ActorInput]  # its input; the request body is this without `actor`
    may: Callable[[Actor, guards.Owned], None]  # who may send it (rules.guards)
    summary: str  # the OpenAPI summary and the CLI's help
    verb: str  # python -m starter <verb> DOSSIER ...
    acting_as: ActingAs  # the CLI's default actor
    # A boolean field as a pair of CLI flags (--approve / --refuse); others get --<field>.
    switches: dict[str, tuple[str, str]] = field(default_factory=dict)


DECISIONS: tuple[Decision, ...] = (
    Decision(
        "review-decision",
        "review_decision",
        ReviewDecisionInput,
        guards.may_review,
        "A reviewer of the competent body approves or refuses (a refusal needs a reason).",
        "decide",
        _as_reviewer,
        {"approve": ("--approve", "--refuse")},
    ),
    Decision(
        "appeal",
        "file_appeal",
        AppealInput,
        guards.may_appeal,
        "The provider appeals a refusal or a negative screening within 30 days.",
        "appeal",
        _as_provider,
    ),
    Decision(
        "appeal-by-email",
        "register_appeal",
        RegisterAppealInput,
        guards.may_register_appeal,
        "The BEC secretariat registers an appeal that arrived by e-mail, with the moment "
        "it was received (the window and the 60 days are judged from it).",
        "register-appeal",
        _as_bec,
    ),
    Decision(
        "hearing",
        "record_hearing",
        HearingInput,
        guards.may_record_hearing,
        "The BEC records the hearing (or waiver) of the provider or the department.",
        "hearing",
        _as_bec,
    ),
    Decision(
        "bec-decision",
        "bec_decision",
        BecDecisionInput,
        guards.may_decide_appeal,
        "The BEC grants or rejects the appeal, after both sides were heard.",
        "bec-decide",
        _as_bec,
        {"granted": ("--grant", "--reject")},
    ),
    Decision(
        "stop",
        "stop",
        StopInput,
        guards.may_stop,
        "The provider stops a registration.",
        "stop",
        _as_provider,
    ),
    Decision(
        "revoke",
        "revoke",
        RevokeInput,
        guards.may_revoke,
        "The department revokes a registration that no longer meets the criteria.",
        "revoke",
        _as_department,
    ),
    Decision(
        "withdraw",
        "withdraw",
        WithdrawInput,
        guards.may_withdraw,
        "The provider withdraws an application before it is decided.",
        "withdraw",
        _as_provider,
    ),
    Decision(
        "receipt-date",
        "correct_receipt_date",
        CorrectReceiptInput,
        guards.may_correct_receipt,
        "The department corrects the day a decision or appeal was received.",
        "receipt-date",
        _as_department,
    ),
)

BY_MODEL: dict[type[_ActorInput], Decision] = {d.model: d for d in DECISIONS}
