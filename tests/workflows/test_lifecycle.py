"""Every path of domain.md end to end, on the time-skipping server with the real registry
and SMTP sink: submission, review, the appeal window, the BEC, screening, removal, ends."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from models.case import (
    AppealInput,
    BecDecisionInput,
    CaseInput,
    CaseState,
    CorrectReceiptInput,
    DeadlineKind,
    EndReason,
    HearingInput,
    HearingSide,
    ReviewDecisionInput,
    RevokeInput,
    ScreeningOutcome,
    StopInput,
    WithdrawInput,
)
from models.dutch import dutch_date
from models.errors import Refusal
from registry import applications, queries
from rules import case_view
from rules.deadlines import brussels_day, why_not_working_day
from rules.guards import REFUSAL_FINAL_AFTER_DAYS
from starter.client import Refused
from tests.workflows.harness import (
    BEC,
    DEPARTMENT,
    PC200_REVIEWER,
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
from workflows.application import ApplicationWorkflow

# A jump of months on the module's time-skipping server fires the timers of every case the
# module made: on a shared machine (three workers, another tenant's steal) one outlasted
# 120 s. The limit guards against a hang, not for speed.
pytestmark = pytest.mark.timeout(300)

REASON = "De opleiding sluit onvoldoende aan bij de arbeidsmarkt."
# A refusal becomes final this long after its window closed (room for e-mailed appeals).
FINAL_AFTER = timedelta(days=REFUSAL_FINAL_AFTER_DAYS, minutes=1)


async def mails_for(sink: Any, dossier: str, count: int) -> list[str]:
    """The kinds of e-mail the sink received for a dossier (from their Message-IDs), once
    `count` arrived: notices are delivered by activities of their own, after the decision
    that queued them returned."""
    found = await sink.wait_for(lambda m: dossier in (m["Message-ID"] or ""), count=count)
    return [m["Message-ID"].strip("<>").split("@")[0].split(".")[1] for m in found]


async def refused_case(cases: Cases, day: date) -> Any:
    """A VOC case refused at 10:00 Brussels on `day`."""
    await advance_to(cases.env, at_brussels(day))
    handle = await cases.submit(application(day + timedelta(days=120)))
    await cases.service.update(
        handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
    )
    # The window starts once the refusal e-mail went out (received that day).
    await until(handle, lambda s: s.appeal_window is not None)
    return handle


async def a_day_from_now(cases: Cases, days: int = 2) -> date:
    return brussels_day(await now(cases.env)) + timedelta(days=days)


async def test_submit_approve_registered(cases: Cases, smtp_sink: Any) -> None:
    today = await a_day_from_now(cases, 1)
    await advance_to(cases.env, at_brussels(today))
    handle = await cases.submit(application(today + timedelta(days=200), joint_committee="PC 200"))
    status = await cases.status(handle)
    assert status.state == CaseState.UNDER_REVIEW
    assert status.competent_body == "PC 200"
    assert status.waiting_for == "reviewer"

    # A VOC reviewer cannot decide on a PC 200 application.
    with pytest.raises(Refused) as refused:
        await cases.service.update(handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True))
    assert refused.value.refusal == Refusal.FORBIDDEN
    assert "PC 200" in refused.value.message

    status = await cases.service.update(
        handle.id, ReviewDecisionInput(actor=PC200_REVIEWER, approve=True)
    )
    assert status.state == CaseState.REGISTERED
    assert status.registered_from == today
    async with cases.pool.acquire() as conn:
        assert await queries.is_registered(conn, handle.id, today)
        assert not await queries.is_registered(conn, handle.id, today - timedelta(days=1))
    assert await mails_for(smtp_sink, handle.id, 2) == ["acknowledgment", "approval"]
    await keep_history(handle, "approved")


async def test_late_submission_warns_in_acknowledgment(cases: Cases, smtp_sink: Any) -> None:
    from datetime import UTC, datetime

    soon = datetime.now(UTC).date() + timedelta(days=20)
    handle = await cases.submit(application(soon))
    status = await cases.status(handle)
    assert status.late_submission_warning
    [ack] = await smtp_sink.wait_for(lambda m: handle.id in (m["Message-ID"] or ""))
    body = ack.get_payload(decode=True).decode() if not ack.is_multipart() else str(ack)
    assert "drie maanden" in body


async def test_appeal_in_last_minute_accepted_a_minute_later_refused(cases: Cases) -> None:
    day = await a_day_from_now(cases)
    in_time = await refused_case(cases, day)
    too_late = await refused_case(cases, day)
    window = (await cases.status(in_time)).appeal_window
    assert window is not None and window.kind == DeadlineKind.APPEAL_WINDOW

    await advance_to(cases.env, window.due_at - timedelta(minutes=1))
    status = await cases.service.update(
        in_time.id, AppealInput(actor=PROVIDER, motivation=f"Beroep tegen {in_time.id}: ...")
    )
    assert status.state == CaseState.IN_APPEAL

    await advance_to(cases.env, window.due_at + timedelta(minutes=1))
    with pytest.raises(Refused) as refused:
        await cases.service.update(
            too_late.id, AppealInput(actor=PROVIDER, motivation=f"Beroep tegen {too_late.id}")
        )
    assert refused.value.refusal == Refusal.WINDOW_CLOSED
    assert f"closed at the end of {dutch_date(window.last_day)}" in refused.value.message
    # Final once the days to register an appeal e-mailed in time have passed.
    await advance_to(cases.env, window.due_at + FINAL_AFTER)
    final = await too_late.result()
    assert final.end_reason == EndReason.FINALLY_REFUSED


async def test_day_30_on_saturday_moves_to_monday(cases: Cases) -> None:
    day = await a_day_from_now(cases)
    while not (
        (day + timedelta(days=30)).weekday() == 5
        and why_not_working_day(day + timedelta(days=32)) is None
    ):
        day += timedelta(days=1)
    handle = await refused_case(cases, day)
    window = (await cases.status(handle)).appeal_window
    assert window is not None
    assert window.last_day == day + timedelta(days=32)
    assert "zaterdag" in window.shifts[0] and "zondag" in window.shifts[1]

    # On the Monday, two days after the nominal day 30, the appeal is still in time.
    await advance_to(cases.env, at_brussels(window.last_day, 16))
    status = await cases.service.update(
        handle.id, AppealInput(actor=PROVIDER, motivation="Beroep: de opleiding is relevant.")
    )
    assert status.state == CaseState.IN_APPEAL


async def test_day_30_on_armistice_day_moves_to_next_working_day(cases: Cases) -> None:
    today = await a_day_from_now(cases)
    year = today.year if today <= date(today.year, 10, 12) else today.year + 1
    while date(year, 11, 11).weekday() >= 4:  # a Mon-Thu 11 November: only the holiday shifts
        year += 1
    handle = await refused_case(cases, date(year, 10, 12))
    window = (await cases.status(handle)).appeal_window
    assert window is not None
    assert window.last_day == date(year, 11, 12)
    assert "feestdag" in window.shifts[0]


async def test_window_lapses_unused_refusal_final(cases: Cases, smtp_sink: Any) -> None:
    handle = await refused_case(cases, await a_day_from_now(cases))
    window = (await cases.status(handle)).appeal_window
    assert window is not None
    await advance_to(cases.env, window.due_at + timedelta(minutes=1))  # 30 days, skipped
    # Not final yet: an appeal e-mailed in time may still be registered for a few days.
    assert (await cases.status(handle)).state == CaseState.REFUSED
    await advance_to(cases.env, window.due_at + FINAL_AFTER)
    final = await handle.result()
    assert final.state == CaseState.ENDED
    assert final.end_reason == EndReason.FINALLY_REFUSED
    assert await mails_for(smtp_sink, handle.id, 3) == [
        "acknowledgment",
        "refusal",
        "final_refusal",
    ]
    await keep_history(handle, "refused_final")


async def test_appeal_hearings_then_granted_registers(cases: Cases, smtp_sink: Any) -> None:
    handle = await refused_case(cases, await a_day_from_now(cases))
    await cases.service.update(
        handle.id, AppealInput(actor=PROVIDER, motivation=f"Beroep {handle.id}: gemotiveerd.")
    )
    decide = BecDecisionInput(actor=BEC, granted=True, reason="Arbeidsmarktgericht na hoorzitting.")
    with pytest.raises(Refused) as refused:
        await cases.service.update(handle.id, decide)
    assert refused.value.refusal == Refusal.INVALID_STATE
    assert "provider and the department" in refused.value.message

    await cases.service.update(handle.id, HearingInput(actor=BEC, side=HearingSide.PROVIDER))
    with pytest.raises(Refused) as refused:
        await cases.service.update(handle.id, decide)
    assert "department" in refused.value.message and "provider" not in refused.value.message
    await cases.service.update(
        handle.id, HearingInput(actor=BEC, side=HearingSide.DEPARTMENT, waived=True)
    )
    status = await cases.service.update(handle.id, decide)
    assert status.state == CaseState.REGISTERED
    assert status.registered_from == brussels_day(await now(cases.env))
    assert await mails_for(smtp_sink, handle.id, 4) == [
        "acknowledgment",
        "refusal",
        "appeal_received",
        "bec_decision",
    ]
    await keep_history(handle, "appeal_granted")


async def test_appeal_rejected_is_final(cases: Cases) -> None:
    handle = await refused_case(cases, await a_day_from_now(cases))
    await cases.service.update(handle.id, AppealInput(actor=PROVIDER, motivation="Beroep, want."))
    for side in HearingSide:
        await cases.service.update(handle.id, HearingInput(actor=BEC, side=side))
    await cases.service.update(
        handle.id, BecDecisionInput(actor=BEC, granted=False, reason="De weigering blijft staan.")
    )
    final = await handle.result()
    assert final.end_reason == EndReason.APPEAL_REJECTED
    await keep_history(handle, "appeal_rejected")


async def test_bec_overdue_at_day_60_alerts_then_decision_still_accepted(
    cases: Cases, smtp_sink: Any
) -> None:
    handle = await refused_case(cases, await a_day_from_now(cases))
    status = await cases.service.update(
        handle.id, AppealInput(actor=PROVIDER, motivation="Beroep met motivering.")
    )
    appeal = status.appeals[0]
    assert appeal.deadline.kind == DeadlineKind.BEC_DECISION
    assert appeal.deadline.last_day >= brussels_day(appeal.filed_at) + timedelta(days=60)

    await advance_to(cases.env, appeal.deadline.due_at - timedelta(hours=1))
    assert not (await cases.status(handle)).appeals[0].overdue
    await advance_to(cases.env, appeal.deadline.due_at + timedelta(minutes=5))
    status = await cases.status(handle)
    assert status.appeals[0].overdue
    assert status.state == CaseState.IN_APPEAL  # still waiting for the decision
    alerts = [
        m for m in smtp_sink.messages() if f"{handle.id}.bec_overdue" in (m["Message-ID"] or "")
    ]
    assert sorted(m["To"] for m in alerts) == sorted(
        [cases.settings.notifications.bec_address, cases.settings.notifications.department_address]
    )

    for side in HearingSide:
        await cases.service.update(handle.id, HearingInput(actor=BEC, side=side))
    status = await cases.service.update(
        handle.id, BecDecisionInput(actor=BEC, granted=True, reason="Laattijdig maar gegrond.")
    )
    assert status.state == CaseState.REGISTERED
    await keep_history(handle, "bec_overdue")


async def registered_case(cases: Cases, day: date) -> Any:
    await advance_to(cases.env, at_brussels(day))
    handle = await cases.submit(application(day + timedelta(days=120)))
    await cases.service.update(handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True))
    return handle


def outcome(year: int, passed: bool, notified_on: date) -> ScreeningOutcome:
    return ScreeningOutcome(
        year=year,
        passed=passed,
        score=0.8 if passed else 0.3,
        rubric_version="test-1",
        notified_on=notified_on,
    )


async def test_negative_screening_in_december_removes_on_31_december_next_year(
    cases: Cases, smtp_sink: Any
) -> None:
    today = await a_day_from_now(cases)
    handle = await registered_case(cases, today)
    notice = date(today.year, 12, 20) if today <= date(today.year, 12, 20) else None
    notice = notice or date(today.year + 1, 12, 20)
    await advance_to(cases.env, at_brussels(notice))
    await handle.signal(ApplicationWorkflow.screening_outcome, outcome(notice.year, False, notice))
    status = await until(handle, lambda s: s.state == CaseState.REMOVAL_SCHEDULED)
    assert status.removal is not None
    assert status.removal.last_day == date(notice.year + 1, 12, 31)

    # Still registered on its last day, gone the day after.
    await advance_to(cases.env, status.removal.due_at + timedelta(minutes=1))
    final = await handle.result()
    assert final.end_reason == EndReason.REMOVED
    async with cases.pool.acquire() as conn:
        assert await queries.is_registered(conn, handle.id, date(notice.year + 1, 12, 31))
        assert not await queries.is_registered(conn, handle.id, date(notice.year + 2, 1, 1))
    # acknowledgment and approval (the screening run would have sent the screening e-mail).
    assert (await mails_for(smtp_sink, handle.id, 3))[-1] == "removal"
    await keep_history(handle, "screening_removal")


async def test_a_screened_case_continues_as_new_within_the_spread_days(cases: Cases) -> None:
    today = await a_day_from_now(cases)
    handle = await registered_case(cases, today)
    before = await until(handle, lambda s: s.state == CaseState.REGISTERED)
    spread = outcome(today.year, True, today).model_copy(
        update={"continue_as_new_within_days": 7}
    )
    await handle.signal(ApplicationWorkflow.screening_outcome, spread)
    status = await until(handle, lambda s: [o.year for o in s.screenings] == [today.year])
    assert status.runs == before.runs  # handled at once; the fresh run comes later
    summaries = [
        json.loads(e.user_metadata.summary.data)
        async for e in handle.fetch_history_events()
        if e.HasField("timer_started_event_attributes")
    ]
    assert summaries[-1] == case_view.FRESH_RUN_SUMMARY

    await advance_to(cases.env, await now(cases.env) + timedelta(days=7, minutes=1))
    status = await until(handle, lambda s: s.runs == before.runs + 1)
    assert status.state == CaseState.REGISTERED
    assert [o.year for o in status.screenings] == [today.year]
    # The run that waited for its fresh run, for the replay tests.
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    first_run = cases.client.get_workflow_handle(
        handle.id, run_id=started.continued_execution_run_id
    )
    await keep_history(first_run, "screening_fresh_run")


async def test_granted_appeal_against_negative_screening_cancels_removal(cases: Cases) -> None:
    today = await a_day_from_now(cases)
    handle = await registered_case(cases, today)
    await handle.signal(ApplicationWorkflow.screening_outcome, outcome(today.year, False, today))
    await until(handle, lambda s: s.state == CaseState.REMOVAL_SCHEDULED)
    status = await cases.service.update(
        handle.id, AppealInput(actor=PROVIDER, motivation="Beroep tegen de screening.")
    )
    assert status.state == CaseState.REMOVAL_SCHEDULED and status.open_appeal is not None
    for side in HearingSide:
        await cases.service.update(handle.id, HearingInput(actor=BEC, side=side))
    status = await cases.service.update(
        handle.id, BecDecisionInput(actor=BEC, granted=True, reason="De score was onterecht.")
    )
    assert status.state == CaseState.REGISTERED
    assert status.removal is None
    await advance_to(cases.env, at_brussels(date(today.year + 2, 1, 2)))
    assert (await cases.status(handle)).state == CaseState.REGISTERED
    async with cases.pool.acquire() as conn:
        assert await queries.is_registered(conn, handle.id, date(today.year + 2, 1, 2))
    await keep_history(handle, "screening_appeal_granted")


async def test_stop_and_revoke_end_registration(cases: Cases, smtp_sink: Any) -> None:
    today = await a_day_from_now(cases)
    stopped = await registered_case(cases, today)
    revoked = await registered_case(cases, today)
    status = await cases.service.update(stopped.id, StopInput(actor=PROVIDER))
    assert status.end_reason == EndReason.STOPPED and status.registered_until == today
    with pytest.raises(Refused) as refused:
        await cases.service.update(revoked.id, RevokeInput(actor=DEPARTMENT, reason="kort"))
    assert refused.value.refusal == Refusal.INVALID_INPUT
    status = await cases.service.update(
        revoked.id, RevokeInput(actor=DEPARTMENT, reason="Voldoet niet langer aan de criteria.")
    )
    assert status.end_reason == EndReason.REVOKED
    assert (await mails_for(smtp_sink, stopped.id, 3))[-1] == "stop_confirmation"
    assert (await mails_for(smtp_sink, revoked.id, 3))[-1] == "revocation"
    await keep_history(stopped, "stopped_revoked")


async def test_withdraw_before_decision(cases: Cases) -> None:
    handle = await cases.submit(application(await a_day_from_now(cases, 200)))
    status = await cases.service.update(handle.id, WithdrawInput(actor=PROVIDER))
    assert status.end_reason == EndReason.WITHDRAWN
    await keep_history(handle, "withdrawn")


async def test_corrected_receipt_date_reschedules_the_window(cases: Cases) -> None:
    day = await a_day_from_now(cases)
    handle = await refused_case(cases, day)
    original = (await cases.status(handle)).appeal_window
    assert original is not None
    later = day + timedelta(days=5)
    await advance_to(cases.env, at_brussels(later))
    status = await cases.service.update(
        handle.id,
        CorrectReceiptInput(
            actor=DEPARTMENT,
            deadline=DeadlineKind.APPEAL_WINDOW,
            received_on=later,
            reason="De aangetekende zending kwam pas later aan.",
        ),
    )
    assert status.appeal_window is not None
    assert status.appeal_window.last_day > original.last_day
    # Past the original window, the case still waits: the timer was rescheduled.
    await advance_to(cases.env, original.due_at + timedelta(hours=1))
    assert (await cases.status(handle)).state == CaseState.REFUSED
    await advance_to(cases.env, status.appeal_window.due_at + FINAL_AFTER)
    final = await handle.result()
    assert final.end_reason == EndReason.FINALLY_REFUSED
    await keep_history(handle, "corrected_window")


async def test_decision_in_the_first_task_waits_for_the_submission(
    cases: Cases, smtp_sink: Any
) -> None:
    """Update-with-start delivers the decision in the case's very first workflow task:
    the acknowledgment is still recorded and sent first."""
    day = await a_day_from_now(cases)
    app = application(day + timedelta(days=200))
    async with cases.pool.acquire() as conn:
        dossier, _ = await applications.allocate(conn, str(uuid.uuid4()), app, await now(cases.env))
    start = WithStartWorkflowOperation(
        ApplicationWorkflow.run,
        CaseInput(dossier=dossier, application=app, submitted_at=await now(cases.env)),
        id=dossier,
        task_queue=cases.settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    status = await cases.client.execute_update_with_start_workflow(
        ApplicationWorkflow.review_decision,
        ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON),
        start_workflow_operation=start,
    )
    assert status.state == CaseState.REFUSED
    assert [h.step for h in status.history] == ["submitted", "review"]
    assert await mails_for(smtp_sink, dossier, 2) == ["acknowledgment", "refusal"]
    await keep_history(cases.client.get_workflow_handle(dossier), "decision_in_first_task")
