"""One path for every decision, whoever sends it: the API's route and the web page's form
both call `send_decision` (the decisions table, the guards of rules/guards.py, the same
update id for a retried request)."""

from __future__ import annotations

from typing import Any

from models.application import TrainingApplication
from models.case import CaseStatus
from models.identity import Actor
from starter.api import access
from starter.client import CaseService, Submission
from starter.decisions import Decision


async def send_decision(
    service: CaseService,
    decision: Decision,
    dossier: str,
    actor: Actor,
    fields: dict[str, Any],
    idempotency_key: str | None,
) -> CaseStatus:
    """Checks who may send it, validates the input (pydantic's ValidationError for bad
    fields) and sends it; the same key has one effect however often it is sent."""
    owner = await service.owner(dossier)
    access.must_exist_for(actor, owner)
    decision.may(actor, owner)  # the same rule the workflow checks again
    inp = decision.model.model_validate({**fields, "actor": actor})
    update_id = f"{update_name(decision)}:{idempotency_key}" if idempotency_key else None
    return access.shown(actor, await service.update(dossier, inp, update_id))


def update_name(decision: Decision) -> str:
    """The update id's prefix: a retried request (same key) has one effect."""
    return decision.route.replace("-", "_")


async def submit_application(
    service: CaseService, actor: Actor, application: TrainingApplication, idempotency_key: str
) -> Submission:
    """POST /applications and the page's *Bevestigen*: only a provider user for its own
    organisation; the same key gives the same dossier (one dossier per confirmed form)."""
    access.may_submit(actor, application.provider)
    # Keys are scoped per organisation: two organisations can never collide.
    return await service.submit(application, f"{actor.organisation}:{idempotency_key}")
