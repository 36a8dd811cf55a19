"""The BEC registers appeals that arrive by e-mail (judged by when they were received), and a
resubmitted training takes over its predecessor's registration: one registration a day.
Time-skipping server, the real registry and SMTP sink."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from models.case import (
    AppealInput,
    CaseState,
    EndReason,
    HearingInput,
    HearingSide,
    RegisterAppealInput,
    ReviewDecisionInput,
)
from models.errors import Refusal
from registry import queries
from registry.errors import RegistryError
from rules.deadlines import bec_decision_deadline, brussels_day
from starter.client import Refused
from tests.workflows.harness import (
    BEC,
    OTHER_ORG,
    PROVIDER,
    VOC_REVIEWER,
    Cases,
    advance_to,
    application,
    at_brussels,
    keep_history,
    now,
    until,
)
from tests.workflows.test_lifecycle import (
    FINAL_AFTER,
    REASON,
    a_day_from_now,
    outcome,
    refused_case,
    registered_case,
)
from workflows.application import ApplicationWorkflow

# A jump of weeks on the module's time-skipping server fires the timers of every case the
# module made: on a shared machine (three workers, another tenant's steal) one took over
# 100 s. The limit guards against a hang, not for speed.
pytestmark = pytest.mark.timeout(300)

MOTIVATION = "Beroep per e-mail: de opleiding is wel arbeidsmarktgericht."


async def test_an_appeal_emailed_before_midnight_is_in_time_one_a_minute_after_is_not(
    cases: Cases,
) -> None:
    day = await a_day_from_now(cases)
    in_time = await refused_case(cases, day)
    too_late = await refused_case(cases, day)
    lapses = await refused_case(cases, day)
    window = (await cases.status(in_time)).appeal_window
    assert window is not None
    last = window.last_day
    # Read and registered the next morning: the refusal is not final yet.
    await advance_to(cases.env, at_brussels(last + timedelta(days=1), 9))
    received = at_brussels(last, 23, 40)
    status = await cases.service.update(
        in_time.id, RegisterAppealInput(actor=BEC, received_at=received, motivation=MOTIVATION)
    )
    assert status.state == CaseState.IN_APPEAL
    appeal = status.appeals[-1]
    assert appeal.route == "email" and appeal.received_at == received
    assert appeal.deadline == bec_decision_deadline(last)  # 60 days from receipt

    with pytest.raises(Refused) as late:
        await cases.service.update(
            too_late.id,
            RegisterAppealInput(
                actor=BEC,
                received_at=at_brussels(last + timedelta(days=1), 0, 1),
                motivation=MOTIVATION,
            ),
        )
    assert late.value.refusal == Refusal.WINDOW_CLOSED
    with pytest.raises(Refused) as portal:
        await cases.service.update(too_late.id, AppealInput(actor=PROVIDER, motivation=MOTIVATION))
    assert portal.value.refusal == Refusal.WINDOW_CLOSED

    # One appeal per decision, by either route: the second names the first.
    with pytest.raises(Refused) as second:
        await cases.service.update(in_time.id, AppealInput(actor=PROVIDER, motivation=MOTIVATION))
    assert second.value.refusal == Refusal.INVALID_STATE
    assert "appeal 1" in second.value.message and "by e-mail" in second.value.message

    # An unused window's refusal becomes final once the registration grace has passed.
    assert (await cases.status(lapses)).state == CaseState.REFUSED  # not final yet
    await advance_to(cases.env, window.due_at + FINAL_AFTER)
    final = await until(lapses, lambda s: s.state == CaseState.ENDED)
    assert final.end_reason == EndReason.FINALLY_REFUSED
    await keep_history(in_time, "appeal_by_email")


async def test_an_emailed_appeal_is_refused_when_received_in_the_future_or_before_the_decision(
    cases: Cases,
) -> None:
    day = await a_day_from_now(cases)
    handle = await refused_case(cases, day)
    current = await now(cases.env)
    for received, field in (
        (current + timedelta(hours=1), "received_at"),
        (at_brussels(day, 9), "received_at"),  # the refusal was decided at 10:00
    ):
        with pytest.raises(Refused) as refused:
            await cases.service.update(
                handle.id,
                RegisterAppealInput(actor=BEC, received_at=received, motivation=MOTIVATION),
            )
        assert refused.value.refusal == Refusal.INVALID_INPUT
        assert refused.value.field == field
    with pytest.raises(Refused) as provider:
        await cases.service.update(
            handle.id,
            RegisterAppealInput(actor=PROVIDER, received_at=current, motivation=MOTIVATION),
        )
    assert provider.value.refusal == Refusal.FORBIDDEN
    assert (await cases.status(handle)).appeals == []


async def test_a_resubmission_takes_over_one_registration_a_day(cases: Cases) -> None:
    today = await a_day_from_now(cases)
    old = await registered_case(cases, today)
    # A negative screening: removal scheduled; the provider adjusts and resubmits.
    await old.signal(ApplicationWorkflow.screening_outcome, outcome(today.year, False, today))
    await until(old, lambda s: s.state == CaseState.REMOVAL_SCHEDULED)
    switch = today + timedelta(days=20)
    await advance_to(cases.env, at_brussels(switch))
    new = await cases.submit(application(switch + timedelta(days=120), predecessor_dossier=old.id))
    assert (await cases.status(new)).predecessor == old.id
    status = await cases.service.update(
        new.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True)
    )
    assert status.state == CaseState.REGISTERED and status.registered_from == switch
    ended = await until(old, lambda s: s.state == CaseState.ENDED)
    assert ended.end_reason == EndReason.REPLACED and ended.replaced_by == new.id
    assert ended.registered_until == switch - timedelta(days=1)
    async with cases.pool.acquire() as conn:
        for day, expected in (
            (switch - timedelta(days=1), {old.id}),
            (switch, {new.id}),
            (switch + timedelta(days=1), {new.id}),
        ):
            registered = {t.dossier for t in await queries.registered_on(conn, day)}
            assert registered & {old.id, new.id} == expected, day
            csv = await queries.registered_on_csv(conn, day)
            assert (old.id in csv, new.id in csv) == (old.id in expected, new.id in expected)
    await keep_history(new, "resubmission_takes_over")
    await keep_history(old, "replaced_by_resubmission")


async def test_a_training_registered_and_replaced_on_the_same_day_keeps_that_day(
    cases: Cases,
) -> None:
    today = await a_day_from_now(cases)
    old = await registered_case(cases, today)
    new = await cases.submit(application(today + timedelta(days=120), predecessor_dossier=old.id))
    await cases.service.update(new.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True))
    ended = await until(old, lambda s: s.state == CaseState.ENDED)
    # Never a period that ends before it starts: the day it was registered stays its own,
    # as the registry keeps it (both answer "registered on that day").
    assert ended.registered_from == ended.registered_until == today
    async with cases.pool.acquire() as conn:
        registered = {t.dossier for t in await queries.registered_on(conn, today)}
        assert {old.id, new.id} <= registered
        later = {t.dossier for t in await queries.registered_on(conn, today + timedelta(days=1))}
        assert old.id not in later and new.id in later


async def test_a_resubmission_is_refused_unless_it_replaces_a_registered_training_of_its_own(
    cases: Cases,
) -> None:
    today = await a_day_from_now(cases)
    await advance_to(cases.env, at_brussels(today))
    under_review = await cases.submit(application(today + timedelta(days=120)))
    foreign = await cases.submit(application(today + timedelta(days=120), provider=OTHER_ORG))
    for predecessor, words in ((under_review.id, "under review"), (foreign.id, "no dossier")):
        with pytest.raises(RegistryError) as refused:
            await cases.service.submit(
                application(today + timedelta(days=120), predecessor_dossier=predecessor),
                str(uuid.uuid4()),
            )
        assert refused.value.message.startswith("predecessor_dossier:")
        assert words in refused.value.message


async def test_a_successor_waits_for_the_bec_on_its_predecessors_removal(cases: Cases) -> None:
    today = await a_day_from_now(cases)
    old = await registered_case(cases, today)
    await old.signal(ApplicationWorkflow.screening_outcome, outcome(today.year, False, today))
    await until(old, lambda s: s.state == CaseState.REMOVAL_SCHEDULED)
    await cases.service.update(old.id, AppealInput(actor=PROVIDER, motivation=MOTIVATION))
    new = await cases.submit(application(today + timedelta(days=120), predecessor_dossier=old.id))
    with pytest.raises(Refused) as refused:
        await cases.service.update(new.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True))
    assert refused.value.refusal == Refusal.INVALID_STATE
    assert old.id in refused.value.message and "BEC" in refused.value.message
    assert (await cases.status(new)).state == CaseState.UNDER_REVIEW  # nothing written
    async with cases.pool.acquire() as conn:
        assert await queries.is_registered(conn, old.id, brussels_day(await now(cases.env)))
    # Refused instead: the predecessor is untouched.
    await cases.service.update(
        new.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
    )
    for side in HearingSide:
        await cases.service.update(old.id, HearingInput(actor=BEC, side=side))
    assert (await cases.status(old)).state == CaseState.REMOVAL_SCHEDULED
