"""What one workflow step changes in the registry: decisions, appeals and hearings,
screening results, registration periods, planned removal, deadlines, the case's state.

`record` runs inside the caller's transaction together with the audit row and the outbox
rows, so a step is written completely or not at all.
"""

from __future__ import annotations

from models.case import Appeal, Hearing
from models.steps import StepInput
from registry import audit, case_rows, documents, events
from registry.db import Conn
from registry.errors import InvalidInput, InvalidState

# The step the case records when the BEC's 60 days pass without a decision.
OVERDUE_EVENT = "application.appeal.overdue"


async def record(conn: Conn, step: StepInput) -> bool:
    """Writes the step; False (and nothing written) when (dossier, step) exists already."""
    if not await audit.append(conn, step):
        return False
    decision_id = None
    if step.decision is not None:
        decision_id = await _decision(conn, step)
    if step.appeal is not None:
        linked = decision_id if step.decision and step.decision.kind == "appeal" else None
        await _appeal(conn, step.dossier, step.appeal, linked)
        if step.appeal.document_id is not None:
            # Only the actor's own upload (its organisation's, or the BEC's): 422 otherwise.
            await documents.attach(conn, step.appeal.document_id, step.dossier, step.actor)
    elif step.appeal_number is not None:
        await _appeal_by_number(conn, step, decision_id)
    if step.hearing is not None:
        number = step.appeal_number or (step.appeal.number if step.appeal else None)
        if number is None:
            raise InvalidInput(
                [("appeal_number", "a hearing belongs to an appeal: give its number")]
            )
        await _hearing(conn, step.dossier, number, step.hearing)
    if step.screening is not None:
        await _screening(conn, step)
    if step.close_registration is not None:
        await conn.execute(
            """UPDATE registration_periods
               SET ends_on = $2, end_reason = $3, closed_step = $4
               WHERE dossier = $1 AND ends_on IS NULL""",
            step.dossier,
            step.close_registration.last_day,
            step.close_registration.reason.value,
            step.step,
        )
    if step.open_registration is not None:
        await _replace_predecessor(conn, step)
        await conn.execute(
            """INSERT INTO registration_periods (dossier, starts_on, opened_step)
               VALUES ($1, $2, $3)""",
            step.dossier,
            step.open_registration,
            step.step,
        )
    for deadline in step.deadlines:
        await conn.execute(
            """INSERT INTO deadlines
                   (dossier, kind, starts_on, last_day, due_at, rule, shifts, step)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (dossier, kind) DO UPDATE SET starts_on = EXCLUDED.starts_on,
                   last_day = EXCLUDED.last_day, due_at = EXCLUDED.due_at,
                   rule = EXCLUDED.rule, shifts = EXCLUDED.shifts, step = EXCLUDED.step""",
            step.dossier,
            deadline.kind.value,
            deadline.starts_on,
            deadline.last_day,
            deadline.due_at,
            deadline.rule,
            list(deadline.shifts),
            step.step,
        )
    provider = await conn.fetchval(
        """UPDATE applications
           SET state = $2,
               competent_body = COALESCE($3, competent_body),
               late_submission_warning = COALESCE($4, late_submission_warning),
               removal_on = CASE WHEN $5 THEN NULL ELSE COALESCE($6, removal_on) END,
               updated_at = now()
           WHERE dossier = $1
           RETURNING provider""",
        step.dossier,
        step.state_after,
        step.competent_body,
        step.late_submission_warning,
        step.cancel_removal,
        step.removal_on,
    )
    if step.row is not None:
        # The case as it stands after this step, in the same transaction (read by the portal).
        await case_rows.write(conn, step.row)
    # The portal is told: one CloudEvent per step, in this transaction (the last write).
    await events.append(conn, step, provider)
    return True


async def _replace_predecessor(conn: Conn, step: StepInput) -> None:
    """A resubmitted training that becomes registered takes over from the registration it
    replaces, in the same transaction: that one ends the day before this one starts, so
    every day has exactly one registration of the training (its own case records the end
    when it hears of it)."""
    assert step.open_registration is not None
    row = await conn.fetchrow(
        """SELECT p.dossier,
                  EXISTS (SELECT 1 FROM appeals ap
                          WHERE ap.dossier = p.dossier AND ap.decision_id IS NULL) AS in_appeal
           FROM applications a JOIN applications p ON p.dossier = a.predecessor_dossier
           WHERE a.dossier = $1""",
        step.dossier,
    )
    if row is None:
        return
    if row["in_appeal"]:
        raise InvalidState(
            f"predecessor_dossier: {row['dossier']} has an appeal against its removal at the "
            "BEC; the BEC decides that first, then this application can be approved"
        )
    await conn.execute(
        """UPDATE registration_periods
           SET ends_on = GREATEST(starts_on, $2::date - 1), end_reason = 'replaced',
               closed_step = $3
           WHERE dossier = $1 AND ends_on IS NULL""",
        row["dossier"],
        step.open_registration,
        f"replaced-by-{step.dossier}",
    )


async def _decision(conn: Conn, step: StepInput) -> int:
    d = step.decision
    assert d is not None
    value = await conn.fetchval(
        """INSERT INTO decisions
               (dossier, step, kind, outcome, reason, decided_at, decided_by, body)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        step.dossier,
        step.step,
        d.kind,
        d.outcome,
        d.reason,
        d.decided_at,
        d.decided_by,
        d.body,
    )
    return int(value)


async def _appeal(conn: Conn, dossier: str, appeal: Appeal, decision_id: int | None) -> None:
    await conn.execute(
        """INSERT INTO appeals (dossier, number, subject, filed_at, filed_by, motivation,
               decision_last_day, decision_due_at, overdue, decision_id, route, received_at,
               document_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (dossier, number) DO UPDATE SET
               decision_last_day = EXCLUDED.decision_last_day,
               decision_due_at = EXCLUDED.decision_due_at,
               overdue = EXCLUDED.overdue,
               decision_id = COALESCE(EXCLUDED.decision_id, appeals.decision_id)""",
        dossier,
        appeal.number,
        appeal.subject.value,
        appeal.filed_at,
        appeal.filed_by,
        appeal.motivation,
        appeal.deadline.last_day,
        appeal.deadline.due_at,
        appeal.overdue,
        decision_id,
        appeal.route,
        appeal.received_at,
        appeal.document_id,
    )
    for hearing in appeal.hearings:
        await _hearing(conn, dossier, appeal.number, hearing)


async def _appeal_by_number(conn: Conn, step: StepInput, decision_id: int | None) -> None:
    """A step that names its appeal by number (the case records a BEC decision and an
    overdue flag so): the appeal's row gets its decision, or its flag."""
    if step.decision is not None and step.decision.kind == "appeal":
        await conn.execute(
            """UPDATE appeals SET decision_id = COALESCE(decision_id, $3)
               WHERE dossier = $1 AND number = $2""",
            step.dossier,
            step.appeal_number,
            decision_id,
        )
    elif step.event == OVERDUE_EVENT:
        await conn.execute(
            "UPDATE appeals SET overdue = true WHERE dossier = $1 AND number = $2",
            step.dossier,
            step.appeal_number,
        )


async def _hearing(conn: Conn, dossier: str, appeal_number: int, hearing: Hearing) -> None:
    await conn.execute(
        """INSERT INTO hearings (dossier, appeal_number, side, waived, held_on, note, recorded_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (dossier, appeal_number, side) DO NOTHING""",
        dossier,
        appeal_number,
        hearing.side.value,
        hearing.waived,
        hearing.held_on,
        hearing.note,
        hearing.recorded_by,
    )


async def _screening(conn: Conn, step: StepInput) -> None:
    s = step.screening
    assert s is not None
    # One row per (dossier, year), complete whichever side writes it first: the run
    # (usually, with each criterion's score) or the case (e.g. an outcome signalled by hand).
    # The second writer only fills what the first left empty. An outcome sent before the
    # signal carried one is derived as migration 0101 derived it for stored rows.
    outcome = s.outcome or ("passed" if s.passed else "incomplete" if s.score is None else "failed")
    await conn.execute(
        """INSERT INTO screening_results (dossier, step, year, passed, score, rubric_version,
               remarks, notified_on, result_id, outcome)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (dossier, step) DO UPDATE
           SET notified_on = COALESCE(screening_results.notified_on, EXCLUDED.notified_on),
               remarks = CASE WHEN screening_results.remarks = ''
                              THEN EXCLUDED.remarks ELSE screening_results.remarks END,
               result_id = CASE WHEN screening_results.result_id = ''
                                THEN EXCLUDED.result_id ELSE screening_results.result_id END""",
        step.dossier,
        step.step,
        s.year,
        outcome == "passed",
        s.score,
        s.rubric_version,
        s.remarks,
        s.notified_on,
        s.result_id,
        outcome,
    )
