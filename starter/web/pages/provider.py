"""The provider's pages: the organisation's dossiers (the same as GET /dossiers), a new
application with a confirmation before *Bevestigen* (the same as POST /applications, with its
idempotency), a dossier with its deadlines explained, and the organisation's acts on it
(appeal with its document, stop) through the decisions table."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from activities.rubric_loader import load_rubric
from models.application import TrainingApplication
from models.case import AppealInput, CaseState, CaseStatus, DeadlineKind
from models.documents import MAX_DOCUMENT_BYTES
from models.errors import Refusal
from models.identity import Actor, RoleKind
from models.rubric import RubricError
from registry.errors import InvalidInput, RegistryError
from rules.deadlines import brussels_day, explain, submitted_late
from rules.guards import CaseRefused
from starter.acting import send_decision, submit_application
from starter.api.documents import accept_document, check_document, readable_document
from starter.api.problems import Problem
from starter.api.schemas import body_model
from starter.client import Refused, no_dossier
from starter.decisions import DECISIONS
from starter.web import forms, labels
from starter.web.dossiers import emails, visible_case
from starter.web.render import page
from starter.web.services import service_of
from starter.web.signin import posted_form, require_user

APPEAL = next(d for d in DECISIONS if d.route == "appeal")
STOP = next(d for d in DECISIONS if d.route == "stop")
APPEAL_BODY = body_model(AppealInput)  # the API's body: a motivation of at least 10 characters
PAGE_SIZE = 25
HOME = "/mijn-dossiers"
# The application's fields the form has, in its order (names as the model's fields).
FIELDS = (
    "title",
    "description",
    "start_date",
    "end_date",
    "volume_unit",
    "volume",
    "joint_committee",
    "contact_email",
    "certification",
    "predecessor_dossier",
)
STATES = ("under_review", "refused", "in_appeal", "registered", "removal_scheduled", "ended")
UNITS = {
    "contact_hours": "contacturen",
    "teaching_periods": "lestijden",
    "study_points": "studiepunten",
}
_DAY = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\s*$")
_DATE_WORDS = "Geef de datum als dd-mm-jjjj, bijvoorbeeld 15-09-2027."
# What a field's error says on the page, when the rule's own words are the API's English.
_FIELD_WORDS = {
    "title": "Geef de titel van de opleiding (3 tot 200 tekens).",
    "description": "De beschrijving mag hoogstens 5.000 tekens tellen.",
    "start_date": _DATE_WORDS,
    "end_date": _DATE_WORDS,
    "volume_unit": "Kies contacturen, lestijden of studiepunten.",
    "volume": "Geef de omvang als getal groter dan 0, bijvoorbeeld 40 of 2,5.",
    "joint_committee": "Schrijf een paritair comité als PC 200 of PC 118.03, of laat het veld "
    "leeg: dan beoordeelt de Vlaamse opleidingscommissie (VOC).",
    "contact_email": "Geef een e-mailadres als naam@organisatie.be.",
    "certification": "Het getuigschrift mag hoogstens 200 tekens tellen.",
    "predecessor_dossier": "Geef een dossiernummer als ODB-2027-000123.",
    "motivation": "Schrijf een motivering van minstens 10 tekens die uw beroep uitlegt.",
    "reason": "De reden mag hoogstens 5.000 tekens tellen.",
    "file": "Voeg het gemotiveerde document toe (PDF, DOCX of ODT, hoogstens 10 MB).",
}
_VOV_WORDS = (
    "Een opleiding moet minstens 32 contacturen, 32 lestijden of 3 studiepunten tellen; "
    "een kortere opleiding kan niet geregistreerd worden."
)


def guidance(request: Request) -> Response:
    """A person without the provider role for an organisation: the seed page's own advice."""
    return page(request, "provider/geen_rol.html", {"title": "Nog geen toegang"}, status=403)


def _provider(request: Request) -> Actor | Response:
    actor = require_user(request)
    if not actor.has(RoleKind.PROVIDER) or actor.organisation is None:
        return guidance(request)
    return actor


@functools.cache
def _criterion_labels(path: Path) -> tuple[str, dict[str, str]]:
    """The rubric's version and its criteria's Dutch labels (the screening e-mail's words)."""
    try:
        rubric = load_rubric(path)
    except RubricError:
        return "", {}
    return rubric.version, {c.id: c.label for c in rubric.criteria}


def _today() -> date:
    return brussels_day(datetime.now(UTC))


def _dutch(errors: list[forms.FieldError]) -> list[forms.FieldError]:
    """A validation error of the application's model or the registry (English, the API's) in
    the words of the form. A guard's refusal needs none of this: it carries its own Dutch
    sentence (`forms.errors_of` gives it)."""
    out = []
    for err in errors:
        field, text = err.field, err.message
        if field == "volume" and "VOV minimum" in text:
            text = _VOV_WORDS
        elif field == "end_date" and "cannot end before" in text:
            text = (
                "De einddatum ligt voor de startdatum: een opleiding eindigt niet voor ze begint."
            )
        elif field == "predecessor_dossier" and "has no dossier" in text:
            text = (
                "Uw organisatie heeft geen dossier met dit nummer. Geef het nummer van uw "
                "eerdere dossier exact."
            )
        elif field == "predecessor_dossier" and "only a registered training" in text:
            text = (
                "Alleen een geregistreerde opleiding kan door een nieuwe aanvraag vervangen "
                "worden; dien deze aanvraag in zonder eerder dossier."
            )
        elif field in _FIELD_WORDS:
            text = _FIELD_WORDS[field]
        elif field == "provider":
            field, text = (
                None,
                (
                    "Uw organisatie kan geen opleidingen aanmelden: ze is niet (meer) actief in de "
                    "opleidingsdatabank. Mail opleidingsdatabank@vlaanderen.be."
                ),
            )
        elif not _is_dutch(text):
            field, text = (
                None,
                (
                    "De aanvraag kon niet worden ingediend. Probeer opnieuw, of mail "
                    "opleidingsdatabank@vlaanderen.be."
                ),
            )
        out.append(forms.FieldError(field, text))
    return out


def _is_dutch(text: str) -> bool:
    return text in forms._DUTCH.values()


def _typed(form: FormData) -> dict[str, str]:
    return {name: _text(form.get(name)) for name in FIELDS}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _application(actor: Actor, typed: dict[str, str]) -> TrainingApplication:
    """The form as the API's body: Flemish dates and decimal commas as the model reads them;
    an empty optional field left out."""
    data: dict[str, Any] = {"provider": actor.organisation}
    for name, value in typed.items():
        value = value.strip() if name != "description" else value
        if name in ("start_date", "end_date") and (found := _DAY.match(value)):
            day, month, year = found.groups()
            value = f"{year}-{int(month):02d}-{int(day):02d}"
        if name == "volume":
            value = value.replace(",", ".")
        if value == "" and name not in ("title", "contact_email", "start_date", "volume"):
            continue  # optional and left empty: as absent from the API's body
        data[name] = value
    return TrainingApplication.model_validate(data)


def _from_application(app: TrainingApplication) -> dict[str, str]:
    return {
        "title": app.title,
        "description": app.description,
        "start_date": "",  # a new start: the old one is past or no longer true
        "end_date": "",
        "volume_unit": app.volume_unit.value,
        "volume": str(app.volume).replace(".", ","),
        "joint_committee": app.joint_committee or "",
        "contact_email": app.contact_email,
        "certification": app.certification or "",
        "predecessor_dossier": "",
    }


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get(HOME)
    async def my_dossiers(
        request: Request, toestand: str = "", cursor: str | None = None
    ) -> Response:
        actor = _provider(request)
        if isinstance(actor, Response):
            return actor
        state = toestand if toestand in STATES else None
        listed = await service_of(request).list_dossiers(
            str(actor.organisation), state=state, cursor=cursor, limit=PAGE_SIZE
        )
        return page(
            request,
            "provider/dossiers.html",
            {
                "title": "Mijn dossiers",
                "listed": listed,
                "state": state or "",
                "states": STATES,
                "continued": cursor is not None,
                "next_for": labels.provider_next,
                "deadline_words": labels.DEADLINE,
            },
        )

    @routes.get("/aanvraag")
    async def new_application(request: Request, opnieuw: str = "") -> Response:
        actor = _provider(request)
        if isinstance(actor, Response):
            return actor
        values: dict[str, str] = {}
        old: CaseStatus | None = None
        if opnieuw:
            service = service_of(request)
            old = await visible_case(service, actor, opnieuw)  # another's: not found
            submitted = await service.application(old.dossier)
            if submitted is None:  # pragma: no cover - a visible case has its application
                raise Refused(Refusal.NOT_FOUND, no_dossier(opnieuw))
            values = _from_application(submitted)
            if old.state in (CaseState.REGISTERED, CaseState.REMOVAL_SCHEDULED):
                values["predecessor_dossier"] = old.dossier
        return _form(request, values, old=old)

    @routes.post("/aanvraag")
    async def check_application(request: Request) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.PROVIDER) or actor.organisation is None:
            return guidance(request)
        typed = _typed(form)
        try:
            application = _application(actor, typed)
        except ValidationError as exc:
            return _form(request, typed, errors=_dutch(forms.errors_of(exc)), status=422)
        if form.get("actie") == "wijzigen":
            return _form(request, typed)
        return page(
            request,
            "provider/bevestigen.html",
            {
                "title": "Controleer uw aanvraag",
                "values": typed,
                "application": application,
                "units": UNITS,
                "late": submitted_late(_today(), application.start_date),
            },
        )

    @routes.post("/aanvraag/bevestigen")
    async def confirm(request: Request) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.PROVIDER) or actor.organisation is None:
            return guidance(request)
        typed = _typed(form)
        key = forms.idempotency_key(form)
        try:
            application = _application(actor, typed)
            if not key:  # a form of ours always has one: a crafted post, refused as such
                raise Refused(
                    Refusal.INVALID_INPUT,
                    "the form is incomplete",
                    nl="Het formulier is onvolledig; vul het opnieuw in.",
                )
            result = await submit_application(service_of(request), actor, application, key)
        except ValidationError as exc:
            return _form(request, typed, errors=_dutch(forms.errors_of(exc)), status=422)
        except Refused as exc:
            return _form(request, typed, errors=forms.errors_of(exc), status=422)
        except InvalidInput as exc:
            found = [forms.FieldError(field, rule) for field, rule in exc.problems]
            return _form(request, typed, errors=_dutch(found), status=422)
        except RegistryError as exc:
            field, _, rule = exc.message.partition(": ")
            found_error = (
                forms.FieldError(field, rule)
                if rule and field.isidentifier()
                else forms.FieldError(None, exc.message)
            )
            status = 422 if exc.refusal in (Refusal.NOT_FOUND, Refusal.INVALID_INPUT) else 409
            return _form(request, typed, errors=_dutch([found_error]), status=status)
        later = "&later=1" if not result.started else ""
        return RedirectResponse(f"{HOME}/{result.dossier}?ontvangen=1{later}", status_code=303)

    @routes.get(HOME + "/{dossier}")
    async def dossier_page(
        request: Request, dossier: str, ontvangen: int = 0, later: int = 0, gedaan: str = ""
    ) -> Response:
        actor = _provider(request)
        if isinstance(actor, Response):
            return actor
        return await _dossier(
            request, actor, dossier, received=bool(ontvangen), later=bool(later), done=gedaan
        )

    @routes.get(HOME + "/{dossier}/documenten/{document_id}")
    async def document(request: Request, dossier: str, document_id: str) -> Response:
        actor = _provider(request)
        if isinstance(actor, Response):
            return actor
        service = service_of(request)
        case = await visible_case(service, actor, dossier)
        attached = {a.document_id for a in case.appeals if a.document_id}
        if document_id not in attached:
            raise Refused(Refusal.NOT_FOUND, no_dossier(dossier))
        try:
            record, content = await readable_document(service, actor, document_id)
        except Problem as exc:
            raise Refused(Refusal.NOT_FOUND, no_dossier(dossier)) from exc
        return Response(
            content,
            media_type=record.media_type.value,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(record.name)}"},
        )

    @routes.post(HOME + "/{dossier}/beroep")
    async def appeal(request: Request, dossier: str) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.PROVIDER) or actor.organisation is None:
            return guidance(request)
        service = service_of(request)
        await visible_case(service, actor, dossier)  # another's: the not-found page
        motivation = _text(form.get("motivation"))
        values = {"motivation": motivation}
        errors: list[forms.FieldError] = []
        try:
            APPEAL_BODY.model_validate({"motivation": motivation})
        except ValidationError as exc:
            errors += _dutch(forms.errors_of(exc))
        upload = form.get("file")
        content = b""
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read(MAX_DOCUMENT_BYTES + 1)
            try:
                check_document(content)
            except Problem as exc:
                errors.append(forms.FieldError("file", forms.file_refused(exc.status, exc.detail)))
        else:
            errors.append(forms.FieldError("file", _FIELD_WORDS["file"]))
        if errors:
            return await _dossier(request, actor, dossier, errors=errors, values=values, status=422)
        assert isinstance(upload, UploadFile)
        try:
            receipt = await accept_document(service, actor, upload.filename, content)
            fields = {"motivation": motivation, "document_id": receipt.id}
            await send_decision(service, APPEAL, dossier, actor, fields, _key(form))
        except (ValidationError, Refused, CaseRefused) as exc:
            return await _refused(request, actor, dossier, exc, values)
        return RedirectResponse(f"{HOME}/{dossier}?gedaan=beroep", status_code=303)

    @routes.post(HOME + "/{dossier}/stopzetten")
    async def stop(request: Request, dossier: str) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.PROVIDER) or actor.organisation is None:
            return guidance(request)
        service = service_of(request)
        await visible_case(service, actor, dossier)
        reason = _text(form.get("reason"))
        try:
            await send_decision(service, STOP, dossier, actor, {"reason": reason}, _key(form))
        except (ValidationError, Refused, CaseRefused) as exc:
            return await _refused(request, actor, dossier, exc, {"reason": reason})
        return RedirectResponse(f"{HOME}/{dossier}?gedaan=stop", status_code=303)

    return routes


def _key(form: FormData) -> str | None:
    return forms.idempotency_key(form)


async def _refused(
    request: Request,
    actor: Actor,
    dossier: str,
    exc: ValidationError | Refused | CaseRefused,
    values: dict[str, str],
) -> Response:
    if isinstance(exc, Refused | CaseRefused) and exc.refusal in (
        Refusal.NOT_FOUND,
        Refusal.FORBIDDEN,
    ):
        raise exc
    if isinstance(exc, ValidationError):
        errors, status = _dutch(forms.errors_of(exc)), 422
    else:  # the guard's own sentence: the case's state (409) or the input it refused (422)
        errors = forms.errors_of(exc)
        status = 422 if exc.refusal == Refusal.INVALID_INPUT else 409
    return await _dossier(request, actor, dossier, errors=errors, values=values, status=status)


def _form(
    request: Request,
    values: dict[str, str],
    *,
    old: CaseStatus | None = None,
    errors: list[forms.FieldError] | None = None,
    status: int = 200,
) -> Response:
    return page(
        request,
        "provider/aanvraag.html",
        {
            "title": "Nieuwe aanvraag",
            "old": old,
            "units": UNITS,
            **forms.context(errors or [], {n: values.get(n, "") for n in FIELDS}),
        },
        status=status,
    )


async def _dossier(
    request: Request,
    actor: Actor,
    dossier: str,
    *,
    received: bool = False,
    later: bool = False,
    done: str = "",
    errors: list[forms.FieldError] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    service = service_of(request)
    case = await visible_case(service, actor, dossier)
    today = _today()
    window = case.appeal_window
    # Past its last day (the case's timer not yet fired), the form would only be refused.
    can_appeal = (
        window is not None
        and window.last_day >= today
        and case.waiting_for == "provider"
        and case.open_appeal is None
    )
    deadlines = []
    for deadline, what in (
        (case.appeal_window, "Beroepstermijn"),
        (case.open_appeal.deadline if case.open_appeal else None, "Beslissing over uw beroep"),
        (case.removal, "Verwijdering uit de databank"),
        (case.lapsed_window, "Verstreken beroepstermijn"),
    ):
        if deadline is not None:
            deadlines.append({"what": what, "deadline": deadline, "how": explain(deadline)})
    criteria: dict[int, list[tuple[str, float]]] = {}
    if case.screenings:
        version, named = _criterion_labels(
            service.settings.resolve(service.settings.screening.rubric)
        )
        scores = await service.screening_criteria(case.dossier, case.provider)
        for year, by_id in scores.items():
            rubric = next((s.rubric_version for s in case.screenings if s.year == year), "")
            words = named if rubric == version else {}
            criteria[year] = [(words.get(k, k), v) for k, v in by_id.items()]
    return page(
        request,
        "provider/dossier.html",
        {
            "title": f"Dossier {case.dossier}",
            "case": case,
            "emails": await emails(service, case.dossier),
            "deadlines": deadlines,
            "criteria": criteria,
            "next": labels.provider_next(case.waiting_for, case.state.value, case.competent_body),
            "can_appeal": can_appeal,
            "days_left": (window.last_day - today).days if window else None,
            "can_stop": case.state in (CaseState.REGISTERED, CaseState.REMOVAL_SCHEDULED),
            "can_resubmit": case.state in (CaseState.REFUSED, CaseState.REMOVAL_SCHEDULED)
            or (
                case.state == CaseState.ENDED
                and case.end_reason is not None
                and case.end_reason.value in ("finally_refused", "appeal_rejected", "removed")
            ),
            "today": today,
            "received": received,
            "later": later,
            "done": done,
            "end_reason": labels.END_REASON,
            "removal_kind": DeadlineKind.REMOVAL,
            **forms.context(errors or [], values),
        },
        status=status,
    )
