"""The department's pages besides the register: its start page, what needs watching (the
department's worklists: overdue appeals, failed or stuck cases; and the activities that keep
failing), the yearly screening, retention holds, and a dossier with the department's two
decisions (revoke, correct a receipt date) through the decisions table like the API's
routes."""

from __future__ import annotations

import re

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from models.application import DOSSIER_PATTERN
from models.case import CaseState, CaseStatus, DeadlineKind
from models.errors import Refusal
from models.identity import Actor, RoleKind
from models.retention import HoldInput
from registry.errors import InvalidInput
from rules.guards import CaseRefused
from starter import department as service_department
from starter import worklists
from starter.acting import send_decision
from starter.client import Refused
from starter.decisions import DECISIONS
from starter.web import forms
from starter.web.dossiers import emails, visible_case
from starter.web.errors import forbidden, not_found
from starter.web.pages.dept_text import dutch
from starter.web.pages.register import department
from starter.web.render import page
from starter.web.services import service_of
from starter.web.signin import posted_form

REVOKE = next(d for d in DECISIONS if d.route == "revoke")
RECEIPT = next(d for d in DECISIONS if d.route == "receipt-date")
PAGE_SIZE = 25
_DOSSIER = re.compile(DOSSIER_PATTERN)
HOLD_REASON_MIN = 3  # HoldInput's

# The department's worklists in the words of the page (ops/searches.py WORKLISTS).
LISTS = {
    "appeals-overdue": ("Beroepen over de termijn", "De BEC heeft niet binnen 60 dagen beslist."),
    "failed-or-stuck": (
        "Mislukte of vastgelopen dossiers",
        "Een dossier waarvan de uitvoering mislukte, of dat een uur na een verstreken termijn "
        "nog niet verder ging.",
    ),
    "removals-this-year": ("Schrappingen dit jaar", "Na een negatieve screening."),
    "appeals-without-document": (
        "Beroepen zonder document",
        "Een beroep waarvan het gemotiveerde document nog ontbreekt.",
    ),
}
DEADLINES = {
    DeadlineKind.APPEAL_WINDOW.value: "De beroepstermijn (ontvangst van de beslissing)",
    DeadlineKind.BEC_DECISION.value: "De termijn van de BEC (ontvangst van het beroep)",
}


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get("/departement")
    async def start(request: Request) -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        return page(
            request, "department/start.html", {"title": "Departement WSE", **forms.context([])}
        )

    @routes.get("/departement/dossier")
    async def find(request: Request, nummer: str = "") -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        wanted = nummer.strip().upper()
        if not _is_dossier(wanted):
            errors = dutch([forms.FieldError("dossier", "pattern")], {"dossier": nummer})
            context = {"title": "Departement WSE", **forms.context(errors, {"dossier": nummer})}
            return page(request, "department/start.html", context, status=422)
        return RedirectResponse(f"/departement/dossiers/{wanted}", status_code=303)

    @routes.get("/departement/opvolging")
    async def watch(request: Request, cursor: str | None = None) -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        service = service_of(request)
        answer = await worklists.worklist(service, actor, cursor=cursor, limit=PAGE_SIZE)
        failing = await service_department.stuck_activities(service, actor)
        return page(
            request,
            "department/watch.html",
            {
                "title": "Opvolging",
                "lists": answer.lists,
                "names": LISTS,
                "failing": failing,
                "continued": cursor is not None,
            },
        )

    @routes.get("/departement/screening")
    async def screening(request: Request) -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        runs = await service_department.screening_runs(service_of(request), actor)
        return page(request, "department/screening.html", {"title": "Screening", "runs": runs})

    @routes.get("/departement/screening/{year}")
    async def screening_year(request: Request, year: int, na: str = "") -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        service = service_of(request)
        run = next(
            (r for r in await service_department.screening_runs(service, actor) if r.year == year),
            None,
        )
        if run is None:
            return not_found(request, "Deze screening")
        total, outcomes, more = await service_department.screening_outcomes(
            service, actor, year, na if _is_dossier(na) else "", PAGE_SIZE
        )
        return page(
            request,
            "department/screening_year.html",
            {
                "title": f"Screening {year}",
                "run": run,
                "total": total,
                "outcomes": outcomes,
                "next_after": outcomes[-1].dossier if more and outcomes else None,
                "continued": bool(na),
            },
        )

    @routes.get("/departement/bewaring")
    async def holds(request: Request, geplaatst: str = "", vrijgegeven: str = "") -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        return await _holds(request, actor, placed=geplaatst, released=vrijgegeven)

    @routes.post("/departement/bewaring")
    async def place_hold(request: Request) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.DEPARTMENT):
            return forbidden(request)
        typed = {n: str(form.get(n, "")) for n in ("dossier", "reason")}
        try:
            inp = HoldInput.model_validate(
                {"dossier": typed["dossier"].strip().upper(), "reason": typed["reason"]}
            )
            await service_department.hold(service_of(request), actor, inp)
        except (ValidationError, InvalidInput) as exc:
            found = (
                forms.errors_of(exc)
                if isinstance(exc, ValidationError)
                else [forms.FieldError(f, m) for f, m in exc.problems]
            )
            errors = dutch(found, typed, reason_min=HOLD_REASON_MIN)
            return await _holds(request, actor, errors=errors, values=typed, status=422)
        return RedirectResponse(f"/departement/bewaring?geplaatst={inp.dossier}", 303)

    @routes.post("/departement/bewaring/{dossier}/vrijgeven")
    async def release_hold(request: Request, dossier: str) -> Response:
        actor, _ = await posted_form(request)
        if not actor.has(RoleKind.DEPARTMENT):
            return forbidden(request)
        # Released twice (a resent form): the hold is gone either way; say so once.
        await service_department.release(service_of(request), actor, dossier)
        return RedirectResponse(f"/departement/bewaring?vrijgegeven={dossier}", 303)

    @routes.get("/departement/dossiers/{dossier}")
    async def dossier_page(request: Request, dossier: str, bewaard: str = "") -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        return await _dossier(request, actor, dossier, saved=bewaard)

    @routes.post("/departement/dossiers/{dossier}/intrekking")
    async def revoke(request: Request, dossier: str) -> Response:
        typed_names = ("reason",)
        return await _decide(request, dossier, "intrekking", typed_names)

    @routes.post("/departement/dossiers/{dossier}/ontvangstdatum")
    async def correct_receipt(request: Request, dossier: str) -> Response:
        return await _decide(
            request, dossier, "ontvangstdatum", ("deadline", "received_on", "reason")
        )

    return routes


async def _decide(request: Request, dossier: str, which: str, names: tuple[str, ...]) -> Response:
    """Revoke or correct: the API's call (send_decision: the decisions table, the guard, the
    same idempotency key for a resent form), then back to the dossier."""
    actor, form = await posted_form(request)
    if not actor.has(RoleKind.DEPARTMENT):
        return forbidden(request)
    service = service_of(request)
    await visible_case(service, actor, dossier)
    typed = {n: str(form.get(n, "")) for n in names}
    fields: dict[str, object] = {k: v for k, v in typed.items() if v or k == "reason"}
    decision = REVOKE if which == "intrekking" else RECEIPT
    key = forms.idempotency_key(form)
    try:
        await send_decision(service, decision, dossier, actor, fields, key)
    except (ValidationError, Refused, CaseRefused) as exc:
        if isinstance(exc, Refused | CaseRefused) and exc.refusal in (
            Refusal.NOT_FOUND,
            Refusal.FORBIDDEN,
        ):
            raise
        invalid = isinstance(exc, ValidationError) or exc.refusal == Refusal.INVALID_INPUT
        # A guard's refusal in its own Dutch sentence; a validation error per field.
        found = (
            dutch(forms.errors_of(exc), typed)
            if isinstance(exc, ValidationError)
            else forms.errors_of(exc)
        )
        errors = [forms.FieldError(e.field and f"{which}-{e.field}", e.message) for e in found]
        values = {f"{which}-{k}": v for k, v in typed.items()}
        return await _dossier(
            request, actor, dossier, errors=errors, values=values, status=422 if invalid else 409
        )
    return RedirectResponse(f"/departement/dossiers/{dossier}?bewaard={which}", 303)


async def _dossier(
    request: Request,
    actor: Actor,
    dossier: str,
    *,
    saved: str = "",
    errors: list[forms.FieldError] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    service = service_of(request)
    case = await visible_case(service, actor, dossier)
    return page(
        request,
        "department/dossier.html",
        {
            "title": f"Dossier {case.dossier}",
            "case": case,
            "emails": await emails(service, case.dossier),
            "can_revoke": case.state == CaseState.REGISTERED,
            "corrects": _correctable(case),
            "deadlines": DEADLINES,
            "saved": saved,
            **forms.context(errors or [], values),
        },
        status=status,
    )


def _correctable(case: CaseStatus) -> list[str]:
    """Which receipt dates this case has to correct (an open window, a pending appeal)."""
    found = []
    if case.appeal_window is not None or case.window_starts_with is not None:
        found.append(DeadlineKind.APPEAL_WINDOW.value)
    if case.open_appeal is not None:
        found.append(DeadlineKind.BEC_DECISION.value)
    return found


async def _holds(
    request: Request,
    actor: Actor,
    *,
    placed: str = "",
    released: str = "",
    errors: list[forms.FieldError] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    held = await service_department.holds(service_of(request), actor)
    return page(
        request,
        "department/holds.html",
        {
            "title": "Bewaring van dossiers",
            "holds": held,
            "placed": placed if _is_dossier(placed) else "",
            "released": released if _is_dossier(released) else "",
            **forms.context(errors or [], values),
        },
        status=status,
    )


def _is_dossier(text: str) -> bool:
    return _DOSSIER.fullmatch(text) is not None
