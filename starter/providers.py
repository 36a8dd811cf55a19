"""The providers register as a service: the API's `/providers` routes and the department's
web pages call these (the CLI writes through the same registry functions as ops). Each
checks the department role here, once, so a page and a route cannot differ in who may act.
"""

from __future__ import annotations

import base64
import os
import pathlib
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime

from activities import archives as archive_files
from models.identity import Actor, RoleKind
from models.providers import DeactivateInput, ProviderChange, ProviderInput, ProviderRecord
from registry import providers as registry_providers
from rules import guards
from runtime.logging import get_logger
from starter.client import CaseService

_log = get_logger("starter.providers")


class ProviderHistory(ProviderRecord):
    changes: list[ProviderChange]


@dataclass(frozen=True)
class ExportFile:
    """An organisation's export written to a file of its own; the sender deletes it once
    sent (the ZIP may be far larger than a process should hold in memory)."""

    path: pathlib.Path
    filename: str
    sha256: str

    @property
    def repr_digest(self) -> str:
        return f"sha-256=:{base64.b64encode(bytes.fromhex(self.sha256)).decode()}:"

    def remove(self) -> None:
        os.unlink(self.path)


async def register(
    service: CaseService, actor: Actor, number: str, facts: ProviderInput
) -> tuple[ProviderRecord, bool]:
    """Registers the organisation or updates its name and contact: (record, created)."""
    guards.department_staff(
        actor, "register a provider organisation", "een organisatie registreren"
    )
    return await service._db(lambda conn: registry_providers.register(conn, number, facts, actor))


async def deactivate(
    service: CaseService, actor: Actor, number: str, body: DeactivateInput
) -> ProviderRecord:
    """It submits nothing more; its running cases go on. Unknown number: NotFound."""
    guards.department_staff(
        actor, "deactivate a provider organisation", "een organisatie deactiveren"
    )
    return await service._db(
        lambda conn: registry_providers.set_active(conn, number, False, actor, body.reason)
    )


async def reactivate(service: CaseService, actor: Actor, number: str) -> ProviderRecord:
    guards.department_staff(
        actor, "reactivate a provider organisation", "een organisatie opnieuw activeren"
    )
    return await service._db(lambda conn: registry_providers.set_active(conn, number, True, actor))


async def list_all(service: CaseService, actor: Actor) -> list[ProviderRecord]:
    guards.department_staff(
        actor, "list the providers register", "het register van organisaties bekijken"
    )
    return await service._db(registry_providers.list_all)


async def read(service: CaseService, actor: Actor, number: str) -> ProviderHistory | None:
    """The record and what changed when, for the department; a provider user reads only
    its own organisation (and sees which role changed it, not who). None: not registered,
    or not the caller's to see (the same answer, so nothing leaks)."""
    staff = actor.has(RoleKind.DEPARTMENT)
    if not staff and not actor.is_provider_of(number):
        if not actor.has(RoleKind.PROVIDER):
            guards.department_staff(
                actor, "read the providers register", "het register van organisaties inkijken"
            )
        return None
    record = await service._db(lambda conn: registry_providers.get(conn, number))
    if record is None:
        return None
    changes = await service._db(lambda conn: registry_providers.changes(conn, number))
    if not staff:
        changes = [c.model_copy(update={"by": "department"}) for c in changes]
    return ProviderHistory(**record.model_dump(), changes=changes)


async def export(service: CaseService, actor: Actor, number: str) -> ExportFile | None:
    """Everything held about one organisation as one ZIP (register record and changes,
    every dossier with its steps, decisions, e-mails and documents, a manifest with the
    SHA-256 of each part). None: no such organisation (and no file left behind)."""
    guards.department_staff(
        actor,
        "export everything held about an organisation",
        "alle gegevens over een organisatie exporteren",
    )
    at = datetime.now(UTC)
    path = pathlib.Path(tempfile.gettempdir()) / f"odb-export-{secrets.token_hex(16)}.zip"
    # A batch (every dossier and document of the organisation): each statement is bounded,
    # the whole is not held to the portal's deadline.
    done = await service._db(
        lambda conn: archive_files.export_provider(
            conn, number, service.settings.smtp.sender, at, path
        ),
        deadline=None,
    )
    if done is None:
        return None
    _log.info(
        "provider.exported",
        enterprise_number=number,
        by=actor.subject,
        dossiers=done.dossiers,
        parts=done.parts,
        sha256=done.sha256,
    )
    name = f"provider-{number}-{at.strftime('%Y%m%dT%H%M%SZ')}.zip"
    return ExportFile(path, name, done.sha256)
