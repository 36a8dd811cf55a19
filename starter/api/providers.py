"""The providers register: the department registers, updates, deactivates and reactivates
training provider organisations (`/providers`); every change is audited with who made it.
A provider user reads its own organisation's record; to anyone else but the department
another organisation's record does not exist (404, as for a number never registered).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from models.enterprise import EnterpriseNumber
from models.identity import Actor
from models.providers import DeactivateInput, ProviderInput, ProviderRecord
from starter import providers as service_providers
from starter.api.problems import BODY_PROBLEM_RESPONSES, PROBLEM_RESPONSES, Problem
from starter.client import CaseService
from starter.providers import ProviderHistory

NumberPath = Annotated[
    EnterpriseNumber, Path(description="the organisation's enterprise number, e.g. 0123.456.749")
]


class ProviderAnswer(ProviderRecord):
    created: bool = False


def _service(request: Request) -> CaseService:
    service: CaseService = request.app.state.service
    return service


def _missing(number: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"no provider {number} is registered")


def router(actor_dependency: Any, body_route: dict[str, Any]) -> APIRouter:
    routes = APIRouter(responses=PROBLEM_RESPONSES, tags=["providers"])
    ActorDep = Annotated[Actor, Depends(actor_dependency)]
    ServiceDep = Annotated[CaseService, Depends(_service)]
    body_responses = {**PROBLEM_RESPONSES, **BODY_PROBLEM_RESPONSES}

    @routes.put(
        "/providers/{enterprise_number}",
        response_model=ProviderAnswer,
        status_code=200,
        summary="Register a provider organisation, or update its name and contact (department)",
        responses={201: {"model": ProviderAnswer, "description": "registered"}, **body_responses},
        dependencies=body_route["dependencies"],
    )
    async def register_provider(
        enterprise_number: NumberPath,
        facts: ProviderInput,
        actor: ActorDep,
        service: ServiceDep,
        response: Response,
    ) -> ProviderAnswer:
        record, created = await service_providers.register(
            service, actor, enterprise_number, facts
        )
        if created:
            response.status_code = 201
        return ProviderAnswer(**record.model_dump(), created=created)

    @routes.post(
        "/providers/{enterprise_number}/deactivate",
        response_model=ProviderRecord,
        summary="Deactivate a provider: it submits nothing more; its running cases go on "
        "(department)",
        responses=body_responses,
        dependencies=body_route["dependencies"],
    )
    async def deactivate_provider(
        enterprise_number: NumberPath,
        body: DeactivateInput,
        actor: ActorDep,
        service: ServiceDep,
    ) -> ProviderRecord:
        return await service_providers.deactivate(service, actor, enterprise_number, body)

    @routes.post(
        "/providers/{enterprise_number}/reactivate",
        response_model=ProviderRecord,
        summary="Reactivate a deactivated provider (department)",
    )
    async def reactivate_provider(
        enterprise_number: NumberPath, actor: ActorDep, service: ServiceDep
    ) -> ProviderRecord:
        return await service_providers.reactivate(service, actor, enterprise_number)

    @routes.get(
        "/providers/{enterprise_number}",
        response_model=ProviderHistory,
        summary="A provider's record and its changes (the department; a provider user: its own)",
    )
    async def read_provider(
        enterprise_number: NumberPath, actor: ActorDep, service: ServiceDep
    ) -> ProviderHistory:
        found = await service_providers.read(service, actor, enterprise_number)
        if found is None:
            raise _missing(enterprise_number)
        return found

    @routes.get(
        "/providers/{enterprise_number}/export",
        response_class=Response,
        summary="Everything held about one organisation (its register record and changes, "
        "every dossier with its steps, decisions, e-mails and documents) as one ZIP with a "
        "manifest listing the SHA-256 of each part (department)",
        responses={
            200: {
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                "description": "the archive; `Repr-Digest` holds its own SHA-256",
            }
        },
    )
    async def export_provider(
        enterprise_number: NumberPath, actor: ActorDep, service: ServiceDep
    ) -> Response:
        done = await service_providers.export(service, actor, enterprise_number)
        if done is None:
            raise _missing(enterprise_number)
        return FileResponse(
            done.path,
            media_type="application/zip",
            filename=done.filename,
            headers={"Repr-Digest": done.repr_digest},
            background=BackgroundTask(done.remove),
        )

    @routes.get(
        "/providers",
        response_model=list[ProviderRecord],
        summary="Every registered provider organisation (department)",
    )
    async def list_providers(actor: ActorDep, service: ServiceDep) -> list[ProviderRecord]:
        return await service_providers.list_all(service, actor)

    return routes
