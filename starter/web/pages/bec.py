"""The BEC's pages: the open appeals (the same list as GET /worklist for the BEC), an appeal
received by e-mail registered with its document (POST /documents, then POST
/dossiers/{dossier}/appeal-by-email), each hearing (POST .../hearing), the decision (POST
.../bec-decision), and the dossier with every deadline and how it was counted."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from models.case import CaseStatus, Deadline, HearingSide, RegisterAppealInput
from models.documents import MAX_DOCUMENT_BYTES
from models.errors import Refusal
from models.identity import Actor, RoleKind
from rules import deadlines, guards
from rules.guards import CaseRefused
from starter import worklists
from starter.acting import send_decision
from starter.api.documents import accept_document, check_document, readable_document
from starter.api.problems import Problem
from starter.client import Refused
from starter.decisions import DECISIONS, Decision
from starter.web import forms
from starter.web.dossiers import emails, visible_case
from starter.web.errors import forbidden, not_found
from starter.web.render import page
from starter.web.services import service_of
from starter.web.signin import posted_form, require_user

REGISTER, HEARING, DECIDE = (
    next(d for d in DECISIONS if d.route == route)
    for route in ("appeal-by-email", "hearing", "bec-decision")
)
PAGE_SIZE = 25
LIST = "/beroepen"
NEW = "/beroepen/registreren"

SIDES = {
    HearingSide.PROVIDER.value: "de organisatie",
    HearingSide.DEPARTMENT.value: "het departement",
}
DEADLINES = {
    "appeal_window": "Beroepstermijn",
    "bec_decision": "Beslissing van de BEC",
    "removal": "Schrapping na negatieve screening",
}
# What a form calls an empty or unreadable field, where pydantic's words would be vague.
_NO_DOSSIER = "Er is geen dossier met dit nummer. Een dossiernummer ziet eruit als ODB-2027-000123."
_RECEIVED = "Geef de datum en het uur waarop de e-mail ontvangen werd (dd-mm-jjjj en uu:mm)."
_MOTIVATION = "Vul de motivering uit de e-mail in."
_CHOICE = "Kies of u het beroep gegrond of ongegrond verklaart."
_SIDE = "Kies wie gehoord werd."
_HELD_ON = "Geef de datum van de hoorzitting als dd-mm-jjjj, of laat het veld leeg voor vandaag."
_HOW = "Kies of de hoorzitting gehouden werd of dat ervan werd afgezien."


def _bec(request: Request) -> Actor | Response:
    actor = require_user(request)
    if not actor.has(RoleKind.BEC):
        return forbidden(request, "Deze pagina's zijn voor de beroeps- en evaluatiecommissie.")
    return actor


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get(LIST)
    async def open_appeals(request: Request, cursor: str | None = None) -> Response:
        actor = _bec(request)
        if isinstance(actor, Response):
            return actor
        answer = await worklists.worklist(
            service_of(request), actor, list_name="waiting-for-bec", cursor=cursor, limit=PAGE_SIZE
        )
        return page(
            request,
            "bec/appeals.html",
            {
                "title": "Beroepen bij de BEC",
                "list": answer.lists[0],
                "sides": SIDES,
                "continued": cursor is not None,
            },
        )

    @routes.get(NEW)
    async def new_appeal(request: Request, dossier: str = "") -> Response:
        actor = _bec(request)
        if isinstance(actor, Response):
            return actor
        return _register_form(request, values={"dossier": dossier})

    @routes.post(NEW)
    async def register(request: Request) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.BEC):
            return forbidden(request)
        return await _register(request, actor, form)

    @routes.get(LIST + "/{dossier}")
    async def dossier_page(request: Request, dossier: str, klaar: str = "") -> Response:
        actor = _bec(request)
        if isinstance(actor, Response):
            return actor
        return await _dossier(request, actor, dossier, done=klaar)

    @routes.get(LIST + "/document/{document_id}")
    async def document(request: Request, document_id: str) -> Response:
        actor = _bec(request)
        if isinstance(actor, Response):
            return actor
        try:
            record, content = await readable_document(service_of(request), actor, document_id)
        except Problem as exc:
            if exc.status != 404:
                raise
            return not_found(request, "Dit document")
        return Response(
            content,
            media_type=record.media_type.value,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(record.name)}"},
        )

    @routes.post(LIST + "/{dossier}/hoorzitting")
    async def hearing(request: Request, dossier: str) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.BEC):
            return forbidden(request)
        how = _text(form, "how")
        values = {k: _text(form, k) for k in ("side", "how", "held_on", "note")}
        fields: dict[str, Any] = {"side": values["side"], "note": values["note"]}
        if how == "waived":
            fields["waived"] = True
        errors = []
        if values["held_on"]:
            held_on = _day(values["held_on"])
            if held_on is None:
                errors.append(forms.FieldError("held_on", _HELD_ON))
            fields["held_on"] = held_on
        if values["side"] not in SIDES:
            errors.append(forms.FieldError("side", _SIDE))
        if how not in ("held", "waived"):
            errors.append(forms.FieldError("how", _HOW))
        return await _decide(
            request, actor, form, dossier, HEARING, fields, values, errors, "hoorzitting"
        )

    @routes.post(LIST + "/{dossier}/beslissing")
    async def decide(request: Request, dossier: str) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.BEC):
            return forbidden(request)
        values = {"granted": _text(form, "granted"), "reason": _text(form, "reason")}
        fields: dict[str, Any] = {"reason": values["reason"]}
        errors = []
        if values["granted"] in ("true", "false"):
            fields["granted"] = values["granted"] == "true"
        else:
            errors.append(forms.FieldError("granted", _CHOICE))
        return await _decide(
            request, actor, form, dossier, DECIDE, fields, values, errors, "beslissing"
        )

    return routes


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _decide(
    request: Request,
    actor: Actor,
    form: FormData,
    dossier: str,
    decision: Decision,
    fields: dict[str, Any],
    values: dict[str, str],
    errors: list[forms.FieldError],
    done: str,
) -> Response:
    """A hearing or the decision: the API's call, or the dossier page again with the
    errors beside the fields (422) or the guard's Dutch sentence (409)."""
    service = service_of(request)
    await visible_case(service, actor, dossier)  # a number never given: the not-found page
    status = 422
    try:
        if not errors:
            await send_decision(
                service, decision, dossier, actor, fields, forms.idempotency_key(form)
            )
            return RedirectResponse(f"{LIST}/{dossier}?klaar={done}", status_code=303)
    except (ValidationError, Refused, CaseRefused) as exc:
        _propagate_missing(exc)
        errors = forms.errors_of(exc)
        status = _status_of(exc)
    return await _dossier(
        request, actor, dossier, errors=errors, values=values, status=status, form=done
    )


def _propagate_missing(exc: Exception) -> None:
    """A dossier not found or not allowed is the error page, never a form message."""
    if isinstance(exc, Refused | CaseRefused) and exc.refusal in (
        Refusal.NOT_FOUND,
        Refusal.FORBIDDEN,
    ):
        raise exc


def _status_of(exc: Exception) -> int:
    if isinstance(exc, Refused | CaseRefused) and exc.refusal != Refusal.INVALID_INPUT:
        return 409  # the case's state: the guard's sentence
    return 422


async def _register(request: Request, actor: Actor, form: FormData) -> Response:
    """Checks everything before anything is written (the file, the fields, the rule of
    POST /dossiers/{dossier}/appeal-by-email against the case as the registry has it); then
    stores the document as POST /documents does and sends the API's decision with it."""
    service = service_of(request)
    values = {k: _text(form, k) for k in ("dossier", "received_on", "received_time", "motivation")}
    values["dossier"] = values["dossier"].upper()
    errors: list[forms.FieldError] = []
    case: CaseStatus | None = None
    try:
        case = await visible_case(service, actor, values["dossier"])
    except Refused as exc:
        if exc.refusal != Refusal.NOT_FOUND:
            raise
        errors.append(forms.FieldError("dossier", _NO_DOSSIER))
    received_at = _moment(values["received_on"], values["received_time"])
    if received_at is None:
        errors.append(forms.FieldError("received_at", _RECEIVED))
    if not values["motivation"]:  # an empty field is said with the others; its length is the rule's
        errors.append(forms.FieldError("motivation", _MOTIVATION))
    upload = form.get("file")
    content, filename = b"", None
    if isinstance(upload, UploadFile) and upload.filename:
        content, filename = await upload.read(MAX_DOCUMENT_BYTES + 1), upload.filename
        try:
            check_document(content)
        except Problem as exc:
            errors.append(forms.FieldError("file", forms.file_refused(exc.status, exc.detail)))
    fields: dict[str, Any] = {"motivation": values["motivation"], "received_at": received_at}
    if not errors and case is not None:
        try:
            inp = RegisterAppealInput.model_validate({**fields, "actor": actor})
            REGISTER.may(actor, case)
            if not _in_state(case, inp):
                content = b""  # the case decides: see _in_state
            if content:
                receipt = await accept_document(service, actor, filename, content)
                fields["document_id"] = receipt.id
            key = forms.idempotency_key(form)
            await send_decision(service, REGISTER, case.dossier, actor, fields, key)
            return RedirectResponse(f"{LIST}/{case.dossier}?klaar=beroep", status_code=303)
        except (ValidationError, Refused, CaseRefused) as exc:
            _propagate_missing(exc)
            return _register_form(
                request, forms.errors_of(exc), values, _status_of(exc), chosen=bool(content)
            )
    return _register_form(request, errors, values, 422, chosen=bool(content))


def _in_state(case: CaseStatus, inp: RegisterAppealInput) -> bool:
    """The rule of the case checked before anything is written: bad input refuses here
    (nothing stored). False when only the case's state refuses (an appeal already at the
    BEC): that may be this very form sent again, which the case answers as the first time
    (its idempotency key), so it is sent without storing the file again; any other form
    gets the case's own sentence, with nothing written either."""
    try:
        guards.register_appeal(case, inp, datetime.now(UTC))
    except CaseRefused as exc:
        if exc.refusal != Refusal.INVALID_STATE:
            raise
        return False
    return True


def _moment(day: str, clock: str) -> datetime | None:
    """The moment the e-mail was received, typed as a Brussels day and time."""
    on = _day(day)
    try:
        at = time.fromisoformat(clock.replace(".", ":").replace("u", ":")) if clock else None
    except ValueError:
        return None
    if on is None or at is None:
        return None
    return datetime.combine(on, at, tzinfo=deadlines.BRUSSELS)


_DUTCH_DAY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(text: str) -> date | None:
    """A day as a date field sends it (`2029-12-20`), or as typed where the browser has no
    date picker (`20-12-2029`)."""
    found = _DUTCH_DAY.match(text)
    try:
        if found is None:
            return date.fromisoformat(text) if _ISO_DAY.match(text) else None
        day, month, year = (int(g) for g in found.groups())
        return date(year, month, day)
    except ValueError:
        return None


def _register_form(
    request: Request,
    errors: list[forms.FieldError] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    *,
    chosen: bool = False,
) -> Response:
    return page(
        request,
        "bec/register.html",
        {
            "title": "Beroep per e-mail registreren",
            "chosen": chosen,
            "max_mb": MAX_DOCUMENT_BYTES // (1024 * 1024),
            **forms.context(errors or [], values),
        },
        status=status,
    )


async def _dossier(
    request: Request,
    actor: Actor,
    dossier: str,
    *,
    done: str = "",
    errors: list[forms.FieldError] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    form: str = "",
) -> Response:
    service = service_of(request)
    case = await visible_case(service, actor, dossier)
    appeal = case.open_appeal
    counted = [
        {
            "what": DEADLINES.get(d.kind, d.kind),
            "how": deadlines.explain(Deadline.model_validate(d.model_dump())),
            "due_at": d.due_at,
        }
        for d in await service.deadlines(case.dossier)
    ]
    return page(
        request,
        "bec/dossier.html",
        {
            "title": f"Dossier {case.dossier}",
            "case": case,
            "appeal": appeal,
            "missing": [s.value for s in HearingSide if appeal and not appeal.heard(s)],
            "deadlines": counted,
            "application": await service.application(case.dossier),
            "emails": await emails(service, case.dossier),
            "sides": SIDES,
            "done": done,
            "form": form,
            "today": deadlines.brussels_day(datetime.now(UTC)).isoformat(),
            **forms.context(errors or [], values),
        },
        status=status,
    )
