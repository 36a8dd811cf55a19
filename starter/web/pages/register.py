"""The department's providers register: the list with a form to add an organisation, one
organisation's record with its history (what changed when, by whom), update, deactivate,
reactivate and its export. The same service functions as the API's `/providers` routes
(starter/providers.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ConfigDict, ValidationError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from models.enterprise import EnterpriseNumber, normalise_enterprise_number
from models.identity import Actor, RoleKind
from models.providers import DeactivateInput, ProviderInput
from registry.errors import NotFound
from starter import providers
from starter.web import forms
from starter.web.errors import forbidden, not_found
from starter.web.pages.dept_text import dutch
from starter.web.render import page
from starter.web.services import service_of
from starter.web.signin import posted_form, require_user

BASE = "/departement/organisaties"
_REASON_MIN = 3  # DeactivateInput's


class _NewProvider(ProviderInput):
    """The add form: the number the API takes in its path, with the facts of its body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enterprise_number: EnterpriseNumber


def department(request: Request) -> Actor | Response:
    actor = require_user(request)
    if not actor.has(RoleKind.DEPARTMENT):
        return forbidden(request, "Deze pagina's zijn voor het departement WSE.")
    return actor


def _number(text: str) -> str | None:
    try:
        return normalise_enterprise_number(text)
    except ValueError:
        return None


def _typed(form: Any, *names: str) -> dict[str, str]:
    return {n: str(form.get(n, "")) for n in names}


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get(BASE)
    async def register_list(request: Request) -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        return await _list(request, actor)

    @routes.post(BASE)
    async def add(request: Request) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.DEPARTMENT):
            return forbidden(request)
        typed = _typed(form, "enterprise_number", "name", "contact_email")
        try:
            new = _NewProvider.model_validate(typed)
        except ValidationError as exc:
            errors = dutch(forms.errors_of(exc), typed)
            return await _list(request, actor, errors=errors, values=typed, status=422)
        facts = ProviderInput(name=new.name, contact_email=new.contact_email)
        record, created = await providers.register(
            service_of(request), actor, new.enterprise_number, facts
        )
        done = "nieuw" if created else "bijgewerkt"
        return RedirectResponse(f"{BASE}/{record.enterprise_number}?{done}=1", status_code=303)

    @routes.get(BASE + "/{number}")
    async def one(request: Request, number: str, nieuw: int = 0, bijgewerkt: int = 0) -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        notice = "nieuw" if nieuw else "bijgewerkt" if bijgewerkt else None
        return await _one(request, actor, number, notice=notice)

    @routes.post(BASE + "/{number}")
    async def update(request: Request, number: str) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.DEPARTMENT):
            return forbidden(request)
        found = _number(number)
        if found is None:
            return not_found(request)
        typed = _typed(form, "name", "contact_email")
        try:
            facts = ProviderInput.model_validate(typed)
        except ValidationError as exc:
            errors = dutch(forms.errors_of(exc), typed)
            return await _one(request, actor, number, errors=errors, values=typed, status=422)
        service = service_of(request)
        if await providers.read(service, actor, found) is None:
            return not_found(request)  # the form updates, it does not register
        await providers.register(service, actor, found, facts)
        return RedirectResponse(f"{BASE}/{found}?bijgewerkt=1", status_code=303)

    @routes.post(BASE + "/{number}/deactiveren")
    async def deactivate(request: Request, number: str) -> Response:
        actor, form = await posted_form(request)
        if not actor.has(RoleKind.DEPARTMENT):
            return forbidden(request)
        found = _number(number)
        if found is None:
            return not_found(request)
        typed = _typed(form, "reason")
        try:
            body = DeactivateInput.model_validate(typed)
        except ValidationError as exc:
            errors = dutch(forms.errors_of(exc), typed, reason_min=_REASON_MIN)
            return await _one(request, actor, number, errors=errors, values=typed, status=422)
        try:
            await providers.deactivate(service_of(request), actor, found, body)
        except NotFound:
            return not_found(request)
        return RedirectResponse(f"{BASE}/{found}?bijgewerkt=1", status_code=303)

    @routes.post(BASE + "/{number}/heractiveren")
    async def reactivate(request: Request, number: str) -> Response:
        actor, _ = await posted_form(request)
        if not actor.has(RoleKind.DEPARTMENT):
            return forbidden(request)
        found = _number(number)
        if found is None:
            return not_found(request)
        try:
            await providers.reactivate(service_of(request), actor, found)
        except NotFound:
            return not_found(request)
        return RedirectResponse(f"{BASE}/{found}?bijgewerkt=1", status_code=303)

    @routes.get(BASE + "/{number}/export")
    async def export(request: Request, number: str) -> Response:
        actor = department(request)
        if isinstance(actor, Response):
            return actor
        found = _number(number)
        done = None if found is None else await providers.export(service_of(request), actor, found)
        if done is None:
            return not_found(request)
        return FileResponse(
            done.path,
            media_type="application/zip",
            filename=done.filename,
            headers={"Repr-Digest": done.repr_digest},
            background=BackgroundTask(done.remove),
        )

    return routes


async def _list(
    request: Request,
    actor: Actor,
    *,
    errors: list[forms.FieldError] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    records = await providers.list_all(service_of(request), actor)
    return page(
        request,
        "department/providers.html",
        {
            "title": "Register van opleidingsverstrekkers",
            "providers": records,
            **forms.context(errors or [], values),
        },
        status=status,
    )


async def _one(
    request: Request,
    actor: Actor,
    number: str,
    *,
    notice: str | None = None,
    errors: list[forms.FieldError] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    found = _number(number)
    record = None if found is None else await providers.read(service_of(request), actor, found)
    if record is None:
        return not_found(request)
    return page(
        request,
        "department/provider.html",
        {
            "title": f"{record.name} ({record.enterprise_number})",
            "provider": record,
            "notice": notice,
            **forms.context(errors or [], values),
        },
        status=status,
    )
