"""The providers register: the department registers, updates, deactivates and reactivates
training provider organisations (`/providers`); every change is audited with who made it.
A provider user reads its own organisation's record; to anyone else but the department
another organisation's record does not exist (404, as for a number never registered).
"""

import base64
import os
import pathlib
import secrets
import tempfile
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from activities import archives as archive_files
from models.enterprise import EnterpriseNumber
from models.identity import Actor, RoleKind
from models.providers import DeactivateInput, ProviderChange, ProviderInput, ProviderRecord
from registry import providers as registry_providers
from rules import guards
from runtime.logging import get_logger
from starter.api.problems import BODY_PROBLEM_RESPONSES, PROBLEM_RESPONSES, Problem
from starter.client import CaseService

NumberPath = Annotated[
    EnterpriseNumber, Path(description="the organisation's enterprise number, e.g. 0123.456.749")
]


class ProviderAnswer(ProviderRecord):
    created: bool = False


class ProviderHistory(ProviderRecord):
    changes: list[ProviderChange]


def _service(request: Request) -> CaseService:
    service: CaseService = request.app.state.service
    return service


def _department(actor: Actor, action: str) -> None:
    guards.department_staff(actor, action)


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
        _department(actor, "register a provider organisation")
        record, created = await service._db(
            lambda conn: registry_providers.register(conn, enterprise_number, facts, actor)
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
        _department(actor, "deactivate a provider organisation")
        return await service._db(
            lambda conn: registry_providers.set_active(
                conn, enterprise_number, False, actor, body.reason
            )
        )

    @routes.post(
        "/providers/{enterprise_number}/reactivate",
        response_model=ProviderRecord,
        summary="Reactivate a deactivated provider (department)",
    )
    async def reactivate_provider(
        enterprise_number: NumberPath, actor: ActorDep, service: ServiceDep
    ) -> ProviderRecord:
        _department(actor, "reactivate a provider organisation")
        return await service._db(
            lambda conn: registry_providers.set_active(conn, enterprise_number, True, actor)
        )

    @routes.get(
        "/providers/{enterprise_number}",
        response_model=ProviderHistory,
        summary="A provider's record and its changes (the department; a provider user: its own)",
    )
    async def read_provider(
        enterprise_number: NumberPath, actor: ActorDep, service: ServiceDep
    ) -> ProviderHistory:
        staff = actor.has(RoleKind.DEPARTMENT)
        if not staff and not actor.is_provider_of(enterprise_number):
            if not actor.has(RoleKind.PROVIDER):
                _department(actor, "read the providers register")
            raise _missing(enterprise_number)
        record = await service._db(lambda conn: registry_providers.get(conn, enterprise_number))
        if record is None:
            raise _missing(enterprise_number)
        changes = await service._db(
            lambda conn: registry_providers.changes(conn, enterprise_number)
        )
        if not staff:  # a provider sees which role changed its record, not who
            changes = [c.model_copy(update={"by": "department"}) for c in changes]
        return ProviderHistory(**record.model_dump(), changes=changes)

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
        _department(actor, "export everything held about an organisation")
        at = datetime.now(UTC)
        # A file of its own per export, deleted once sent: the ZIP may be far larger than the
        # API should hold in memory. Only the export creates it, so a refusal leaves none.
        path = pathlib.Path(tempfile.gettempdir()) / f"odb-export-{secrets.token_hex(16)}.zip"
        # A batch (every dossier and document of the organisation): each statement is
        # bounded, the whole is not held to the portal's deadline.
        done = await service._db(
            lambda conn: archive_files.export_provider(
                conn, enterprise_number, service.settings.smtp.sender, at, path
            ),
            deadline=None,
        )
        if done is None:
            raise _missing(enterprise_number)
        _log.info(
            "provider.exported",
            enterprise_number=enterprise_number,
            by=actor.subject,
            dossiers=done.dossiers,
            parts=done.parts,
            sha256=done.sha256,
        )
        name = f"provider-{enterprise_number}-{at.strftime('%Y%m%dT%H%M%SZ')}.zip"
        return FileResponse(
            path,
            media_type="application/zip",
            filename=name,
            headers={
                "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(done.sha256)).decode()}:"
            },
            background=BackgroundTask(os.unlink, path),
        )

    @routes.get(
        "/providers",
        response_model=list[ProviderRecord],
        summary="Every registered provider organisation (department)",
    )
    async def list_providers(actor: ActorDep, service: ServiceDep) -> list[ProviderRecord]:
        _department(actor, "list the providers register")
        return await service._db(registry_providers.list_all)

    return routes


_log = get_logger("starter.api.providers")
