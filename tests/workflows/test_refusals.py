"""Every update refused in each wrong state and for each wrong role, with the refusal type
the portal maps to an HTTP status; a refused update writes nothing to the case's history."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from models.case import (
    AppealInput,
    BecDecisionInput,
    CaseState,
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
from models.errors import GENERAL_NL, Refusal
from models.identity import Actor, Role, RoleKind
from rules.deadlines import brussels_day
from starter.client import Refused, _refusal
from tests.workflows.harness import (
    BEC,
    DEPARTMENT,
    NO_ROLE,
    ORG,
    OTHER_PROVIDER,
    PC200_REVIEWER,
    PROVIDER,
    VOC_REVIEWER,
    Cases,
    application,
    now,
    until,
)
from tests.workflows.test_lifecycle import outcome
from workflows.application import ApplicationWorkflow

ACTORS = {
    "provider": PROVIDER,
    "other_provider": OTHER_PROVIDER,
    "no_role": NO_ROLE,
    "voc_reviewer": VOC_REVIEWER,
    "pc200_reviewer": PC200_REVIEWER,
    "bec": BEC,
    "department": DEPARTMENT,
}
MOTIVATION = "Beroep met een degelijke motivering."
REASON = "Een voldoende lange, geschreven reden."


def requests(actor: Actor, today: date) -> dict[str, BaseModel]:
    return {
        "review_decision": ReviewDecisionInput(actor=actor, approve=True),
        "withdraw": WithdrawInput(actor=actor),
        "file_appeal": AppealInput(actor=actor, motivation=MOTIVATION),
        "record_hearing": HearingInput(actor=actor, side=HearingSide.PROVIDER),
        "bec_decision": BecDecisionInput(actor=actor, granted=True, reason=REASON),
        "stop": StopInput(actor=actor),
        "revoke": RevokeInput(actor=actor, reason=REASON),
        "correct_receipt_date": CorrectReceiptInput(
            actor=actor, deadline=DeadlineKind.APPEAL_WINDOW, received_on=today, reason=REASON
        ),
    }


# Who may send each update at all (every other actor gets Forbidden).
ALLOWED_ACTOR = {
    "review_decision": "voc_reviewer",
    "withdraw": "provider",
    "file_appeal": "provider",
    "record_hearing": "bec",
    "bec_decision": "bec",
    "stop": "provider",
    "revoke": "department",
    "correct_receipt_date": "department",
}
# In which of the matrix's states the allowed actor's update would be accepted.
ACCEPTED_IN = {
    "review_decision": {CaseState.UNDER_REVIEW},
    "withdraw": {CaseState.UNDER_REVIEW},
    "file_appeal": {CaseState.REFUSED, CaseState.REMOVAL_SCHEDULED},
    "record_hearing": {CaseState.IN_APPEAL},
    "bec_decision": set(),  # nobody was heard yet in the matrix's cases
    "stop": {CaseState.REGISTERED, CaseState.REMOVAL_SCHEDULED},
    "revoke": {CaseState.REGISTERED, CaseState.REMOVAL_SCHEDULED},
    "correct_receipt_date": {CaseState.REFUSED, CaseState.REMOVAL_SCHEDULED},
}


async def written(handle: Any) -> int:
    """Events that mean something was done: accepted updates and scheduled activities."""
    return len(
        [
            e
            async for e in handle.fetch_history_events()
            if e.HasField("workflow_execution_update_accepted_event_attributes")
            or e.HasField("activity_task_scheduled_event_attributes")
        ]
    )


async def case_in(cases: Cases, state: CaseState) -> str:
    today = brussels_day(await now(cases.env))
    handle = await cases.submit(application(today + timedelta(days=200)))
    if state == CaseState.UNDER_REVIEW:
        return handle.id
    approve = state in (CaseState.REGISTERED, CaseState.REMOVAL_SCHEDULED)
    await cases.service.update(
        handle.id,
        ReviewDecisionInput(actor=VOC_REVIEWER, approve=approve, reason="" if approve else REASON),
    )
    if state == CaseState.IN_APPEAL:
        await cases.service.update(handle.id, AppealInput(actor=PROVIDER, motivation=MOTIVATION))
    if state == CaseState.REMOVAL_SCHEDULED:
        await handle.signal(
            ApplicationWorkflow.screening_outcome, outcome(today.year, False, today)
        )
    # Settled: its e-mails sent (and so a refusal's window started).
    await until(handle, lambda s: s.state == state and not s.pending_notices)
    return handle.id


@pytest.mark.parametrize(
    "state",
    [
        CaseState.UNDER_REVIEW,
        CaseState.REFUSED,
        CaseState.IN_APPEAL,
        CaseState.REGISTERED,
        CaseState.REMOVAL_SCHEDULED,
    ],
)
async def test_refusal_matrix(cases: Cases, state: CaseState) -> None:
    today = brussels_day(await now(cases.env))
    dossier = await case_in(cases, state)
    handle = cases.client.get_workflow_handle(dossier)
    await until(handle, lambda s: s.state == state and s.history)
    written_before = await written(handle)
    checked = 0
    for actor_name, actor in ACTORS.items():
        for update, request in requests(actor, today).items():
            allowed_actor = ALLOWED_ACTOR[update] == actor_name
            if allowed_actor and state in ACCEPTED_IN[update]:
                continue  # accepted: covered by the lifecycle tests
            with pytest.raises(Refused) as refused:
                await cases.service.update(dossier, request)
            expected = Refusal.INVALID_STATE if allowed_actor else Refusal.FORBIDDEN
            assert refused.value.refusal == expected, (update, actor_name, refused.value.message)
            checked += 1
    assert checked >= 45
    assert (await cases.status(handle)).state == state
    # Validators refuse before anything is written: no accepted update, no registry step.
    assert await written(handle) == written_before


async def test_refusal_without_reason_is_invalid_input(cases: Cases) -> None:
    dossier = await case_in(cases, CaseState.UNDER_REVIEW)
    for reason in ("", "   ", "te kort"):
        with pytest.raises(Refused) as refused:
            await cases.service.update(
                dossier, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=reason)
            )
        assert refused.value.refusal == Refusal.INVALID_INPUT
        assert "reason" in refused.value.message
        # The rule's Dutch sentence crossed Temporal with it (the pages show it).
        assert refused.value.field == "reason"
        assert "reden van de weigering" in refused.value.nl


async def test_same_update_retried_has_one_effect(cases: Cases, smtp_sink: Any) -> None:
    dossier = await case_in(cases, CaseState.REFUSED)
    appeal = AppealInput(actor=PROVIDER, motivation=MOTIVATION)
    first = await cases.service.update(dossier, appeal, update_id="portal-request-1")
    second = await cases.service.update(dossier, appeal, update_id="portal-request-1")
    assert first.appeals == second.appeals and len(second.appeals) == 1
    await until(cases.client.get_workflow_handle(dossier), lambda s: not s.pending_notices)
    received = [
        m for m in smtp_sink.messages() if f"{dossier}.appeal_received" in (m["Message-ID"] or "")
    ]
    assert len(received) == 1


# Acts for the case's provider (ORG) and holds every deciding staff role.
INSIDER = Actor(
    subject="lid.van.alles",
    organisation=ORG,
    roles=(
        Role(kind=RoleKind.REVIEWER, body="VOC"),
        Role(kind=RoleKind.BEC),
        Role(kind=RoleKind.DEPARTMENT),
    ),
)


@pytest.mark.parametrize(
    "state",
    [CaseState.UNDER_REVIEW, CaseState.REFUSED, CaseState.IN_APPEAL, CaseState.REGISTERED],
)
async def test_no_deciding_role_acts_on_its_own_organisations_case(
    cases: Cases, state: CaseState
) -> None:
    """Sent straight to the case, past the API: its validators refuse the conflict of
    interest before the state, and write nothing."""
    today = brussels_day(await now(cases.env))
    dossier = await case_in(cases, state)
    handle = cases.client.get_workflow_handle(dossier)
    await until(handle, lambda s: s.state == state and s.history)
    written_before = await written(handle)
    deciding = {
        k: v
        for k, v in requests(INSIDER, today).items()
        if k not in ("withdraw", "file_appeal", "stop")
    }
    deciding["register_appeal"] = RegisterAppealInput(
        actor=INSIDER, received_at=await now(cases.env), motivation=MOTIVATION
    )
    for update, request in deciding.items():
        with pytest.raises(Refused) as refused:
            await cases.service.update(dossier, request)
        assert refused.value.refusal == Refusal.CONFLICT, (update, refused.value.message)
        assert refused.value.message.startswith(
            f"conflict of interest: you also act for organisation {ORG}, the provider of "
            f"{dossier}; "
        ), update
        assert refused.value.nl.startswith(
            f"Belangenconflict: u treedt ook op voor organisatie {ORG}, de aanbieder van "
            f"dossier {dossier}. "
        ), update
    assert (await cases.status(handle)).state == state
    assert await written(handle) == written_before


def test_a_refusal_from_a_worker_without_dutch_sentences_is_said_in_general_dutch() -> None:
    """A worker from before refusals carried their Dutch sentence sends only the field (or
    nothing): the pages then say a general Dutch sentence of the refusal's kind, never the
    English one."""
    for details in ([{"field": "reason"}], []):
        old = ApplicationError("a refusal needs a written reason", *details, type="InvalidInput")
        refused = _refusal(old)
        assert refused.refusal == Refusal.INVALID_INPUT
        assert refused.message == "a refusal needs a written reason"
        assert refused.nl == GENERAL_NL[Refusal.INVALID_INPUT]
    window = _refusal(ApplicationError("the appeal window closed", type="WindowClosed"))
    assert window.nl == "De termijn hiervoor is verstreken."
