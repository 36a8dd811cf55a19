"""Reading a dossier for a page, the way the API reads it: a dossier the user may not read
(another organisation's, another body's) is the same not-found page as a number never
given."""

from __future__ import annotations

import re

from models.application import DOSSIER_PATTERN
from models.case import CaseStatus
from models.errors import Refusal
from models.identity import Actor
from models.registry import NotificationRecord
from starter.api import access
from starter.api.problems import Problem
from starter.client import CaseService, Refused, no_dossier

_DOSSIER = re.compile(DOSSIER_PATTERN)


async def visible_case(service: CaseService, actor: Actor, dossier: str) -> CaseStatus:
    if not _DOSSIER.match(dossier):
        raise Refused(Refusal.NOT_FOUND, no_dossier(dossier))
    case = await service.read(dossier, provider=access.only_own(actor))
    try:
        access.may_read(actor, case)
    except Problem as exc:
        raise Refused(Refusal.NOT_FOUND, no_dossier(dossier)) from exc
    return access.shown(actor, case)


async def emails(service: CaseService, dossier: str) -> list[NotificationRecord]:
    """The e-mails of a dossier, oldest first (call after `visible_case`)."""
    return await service.emails(dossier)
