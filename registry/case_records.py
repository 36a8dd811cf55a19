"""The case as the registry's own record holds it (applications, registrations, decisions,
audit), for a case the rows or Temporal cannot give: one from before the current-state rows
that has taken no step since, or one past Temporal's retention. Read by the API and the CLI
(starter/client.py) and by reconciliation's repair (ops/reconcile.py), so it lives on the
floor both stand on."""

from __future__ import annotations

from models.case import CaseState, CaseStatus, Decision, EndReason, StepLog
from models.case_row import DossierView
from models.registry import DossierRecord
from registry import queries
from registry.db import Db
from registry.errors import NotFound


async def case_status(db: Db, dossier: str) -> CaseStatus | None:
    try:
        record = await queries.dossier_record(db, dossier)
    except NotFound:
        return None
    return status_from_record(record)


async def case_view(db: Db, dossier: str) -> DossierView | None:
    """A dossier without a current-state row (a case from before the rows that has taken no
    step since, not yet given one by `python -m ops reconcile --repair`), as the registry's
    record of it, as of its last recorded step."""
    try:
        record = await queries.dossier_record(db, dossier)
    except NotFound:
        return None
    status = status_from_record(record)
    last = record.audit[-1] if record.audit else None
    return DossierView(
        **status.model_dump(),
        as_of_step=last.step if last else "submitted",
        as_of=last.at if last else status.submitted_at,
    )


def status_from_record(record: DossierRecord) -> CaseStatus:
    """The case as the registry kept it, for a case Temporal no longer holds."""
    s = record.summary
    try:
        state = CaseState(s.state)
    except ValueError:
        state = CaseState.ENDED
    last = record.registrations[-1] if record.registrations else None
    end_reason: EndReason | None = None
    if last is not None and last.end_reason:
        try:
            end_reason = EndReason(last.end_reason)
        except ValueError:
            end_reason = None
    return CaseStatus(
        dossier=s.dossier,
        title=s.title,
        provider=s.provider,
        competent_body=s.competent_body,
        state=state,
        end_reason=end_reason,
        submitted_at=s.submitted_at,
        late_submission_warning=record.late_submission_warning,
        registered_from=record.registrations[0].starts_on if record.registrations else None,
        registered_until=(last.ends_on if last else None) or record.removal_on,
        decisions=[
            Decision(
                kind=d.kind,
                outcome=d.outcome,
                reason=d.reason,
                decided_at=d.decided_at,
                decided_by=d.decided_by,
                body=d.body,
            )
            for d in record.decisions
        ],
        history=[
            StepLog(step=a.step, at=a.at, by=a.actor, event=a.event) for a in record.audit[-20:]
        ],
        next_step="",
        waiting_for="nobody" if state == CaseState.ENDED else "",
    )
