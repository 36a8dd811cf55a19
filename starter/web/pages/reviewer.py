"""The reviewer's pages: the worklist of their body (the same as GET /worklist), a dossier
with its timeline and e-mails, and the decision (the same call as POST
/dossiers/{dossier}/review-decision)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from models.case import CaseState, CaseStatus
from models.errors import Refusal
from models.identity import Actor, RoleKind
from rules import guards
from rules.guards import CaseRefused
from starter import worklists
from starter.acting import send_decision
from starter.client import Refused
from starter.decisions import DECISIONS
from starter.web import forms
from starter.web.dossiers import emails, visible_case
from starter.web.errors import forbidden
from starter.web.render import page
from starter.web.services import service_of
from starter.web.signin import posted_form, require_user

REVIEW = next(d for d in DECISIONS if d.route == "review-decision")
PAGE_SIZE = 25
# What the form calls its fields' errors, where the rule's own words would be vague.
_CHOICE = "Kies of u de aanvraag goedkeurt of weigert."


def _reviewer(request: Request) -> Actor | Response:
    actor = require_user(request)
    if not actor.has(RoleKind.REVIEWER):
        return forbidden(request, "Deze pagina's zijn voor beoordelaars.")
    return actor


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get("/beoordelen")
    async def worklist(request: Request, cursor: str | None = None) -> Response:
        actor = _reviewer(request)
        if isinstance(actor, Response):
            return actor
        answer = await worklists.worklist(
            service_of(request),
            actor,
            list_name="waiting-for-reviewer",
            cursor=cursor,
            limit=PAGE_SIZE,
        )
        return page(
            request,
            "reviewer/worklist.html",
            {
                "title": "Te beoordelen aanvragen",
                "lists": answer.lists,
                # Listed as the API lists them; the page says at once who decides instead.
                "conflicts": {
                    item.dossier
                    for found in answer.lists
                    for item in found.items
                    if guards.acts_for(actor, item.provider)
                },
                "norm_days": service_of(request).settings.review.service_norm_days,
                "continued": cursor is not None,
            },
        )

    @routes.get("/beoordelen/{dossier}")
    async def dossier_page(request: Request, dossier: str, beslist: int = 0) -> Response:
        actor = _reviewer(request)
        if isinstance(actor, Response):
            return actor
        return await _dossier(request, actor, dossier, decided=bool(beslist))

    @routes.post("/beoordelen/{dossier}/beslissing")
    async def decide(request: Request, dossier: str) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.REVIEWER):
            return forbidden(request)
        service = service_of(request)
        await visible_case(service, actor, dossier)  # another body's: the not-found page
        choice = str(form.get("approve", ""))
        fields: dict[str, object] = {"reason": str(form.get("reason", ""))}
        if choice in ("true", "false"):
            fields["approve"] = choice == "true"
        values = {"approve": choice, "reason": fields["reason"]}
        key = forms.idempotency_key(form)
        try:
            if "approve" not in fields:
                raise Refused(Refusal.INVALID_INPUT, "approve: choose", field="approve", nl=_CHOICE)
            await send_decision(service, REVIEW, dossier, actor, fields, key)
        except (ValidationError, Refused, CaseRefused) as exc:
            if isinstance(exc, Refused | CaseRefused) and exc.refusal in (
                Refusal.NOT_FOUND,
                Refusal.FORBIDDEN,
            ):
                raise
            status = 422 if isinstance(exc, ValidationError) else 409
            if isinstance(exc, Refused | CaseRefused) and exc.refusal == Refusal.INVALID_INPUT:
                status = 422
            return await _dossier(
                request, actor, dossier, errors=forms.errors_of(exc), values=values, status=status
            )
        return RedirectResponse(f"/beoordelen/{dossier}?beslist=1", status_code=303)

    return routes


async def _dossier(
    request: Request,
    actor: Actor,
    dossier: str,
    *,
    decided: bool = False,
    errors: list[forms.FieldError] | None = None,
    values: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    service = service_of(request)
    case = await visible_case(service, actor, dossier)
    return page(
        request,
        "reviewer/dossier.html",
        {
            "title": f"Dossier {case.dossier}",
            "case": case,
            "application": await service.application(case.dossier),
            "emails": await emails(service, case.dossier),
            "can_decide": _can_decide(actor, case),
            "decided": decided,
            **forms.context(errors or [], values),
        },
        status=status,
    )


def _can_decide(actor: Actor, case: CaseStatus) -> bool:
    return case.state == CaseState.UNDER_REVIEW and actor.reviews_for(case.competent_body)
